"""Subjects: registration, lookup, key groups and adult students (service level)."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text
from tests.support import SYSTEM

from xinyong import clock
from xinyong.audit.models import AuditEntry
from xinyong.privacy.identity import InvalidIdNumber, make_id_number
from xinyong.subjects import service
from xinyong.subjects.models import GroupMembership, StudentStatus, Subject
from xinyong.subjects.service import SubjectError, register

NUMBER = make_id_number("120101", date(1980, 5, 17), 321)
TODAY = clock.today()


def _count(session, action: str) -> int:
    return session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action))


def test_register_creates_once_and_returns_the_same_subject(session, vault):
    subject, created = register(session, vault=vault, id_number=NUMBER, name="李小龙", actor=SYSTEM)
    assert created
    v = service.view(subject, vault=vault)  # derived from the number, not stored
    assert (v.birth_date, v.gender, v.region_code) == (date(1980, 5, 17), "M", "120101")
    again, created = register(session, vault=vault, id_number=f" {NUMBER.lower()} ", name=" 李小龙", actor=SYSTEM)
    assert not created and again.id == subject.id
    assert session.scalar(select(func.count()).select_from(Subject).where(Subject.id_bidx == subject.id_bidx)) == 1
    assert _count(session, "subject.create") == 1
    e = session.scalar(select(AuditEntry).where(AuditEntry.action == "subject.create"))
    assert (e.object_type, e.object_id) == ("subject", str(subject.id))
    assert e.details == {"name": "李**", "region": "120101"}


def test_stored_row_holds_no_plain_identity(session, vault):
    subject, _ = register(session, vault=vault, id_number=NUMBER, name="李小龙", actor=SYSTEM)
    session.flush()
    row = session.execute(text("SELECT * FROM subjects WHERE id = :i"), {"i": subject.id}).mappings().one()
    for value in row.values():
        blob = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        assert NUMBER.encode() not in blob and "李小龙".encode() not in blob
    assert row["id_bidx"] == vault.lookup_key(NUMBER)
    view = service.view(subject, vault=vault)
    assert view.id_number_masked == "120101********" + NUMBER[-4:]
    assert view.name_masked == "李**"


def test_stored_row_holds_nothing_the_number_says(session, vault):
    """Birth date, gender and region code are 15 of the number's 18 digits: beside the ciphertext they
    narrowed it to ~500 candidates. The table has no column for them and the row holds none of them;
    they are derived from the revealed number when read."""
    from sqlalchemy import inspect

    subject, _ = register(session, vault=vault, id_number=NUMBER, name="李小龙", actor=SYSTEM)
    session.flush()
    conn = session.connection()
    assert {c["name"] for c in inspect(conn).get_columns("subjects")} == {
        "id", "id_bidx", "id_cipher", "name_cipher", "key_id", "created_at", "updated_at"}
    assert not [i for i in inspect(conn).get_indexes("subjects") if "region_code" in i["column_names"]]
    row = session.execute(text("SELECT * FROM subjects WHERE id = :i"), {"i": subject.id}).mappings().one()
    for value in row.values():
        blob = bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for said in (NUMBER[:6], NUMBER[6:14], "1980-05-17"):
            assert said.encode() not in blob
    assert service.birth_date(subject, vault=vault) == date(1980, 5, 17)


def test_name_mismatch(session, vault):
    register(session, vault=vault, id_number=NUMBER, name="李小龙", actor=SYSTEM)
    with pytest.raises(SubjectError) as info:
        register(session, vault=vault, id_number=NUMBER, name="李大龙", actor=SYSTEM)
    assert info.value.code == "name_mismatch" and info.value.field == "name"
    assert NUMBER not in str(info.value)


def test_names_match_ignores_spacing_and_dot_variants():
    assert service.names_match("阿卜杜拉·买买提", "阿卜杜拉•买买提")
    assert service.names_match("阿卜杜拉 · 买买提", "阿卜杜拉．买买提")
    assert service.names_match(" 张 三 ", "张三")
    assert not service.names_match("张三", "张叁")


@pytest.mark.parametrize(("number", "code"), [
    (NUMBER[:-1] + ("0" if NUMBER[-1] != "0" else "1"), "id_checksum"),
    ("999999" + NUMBER[6:], "id_region"),
    ("", "id_missing"),
    ("abc", "id_length"),
])
def test_invalid_id_number_creates_nothing(session, vault, number, code):
    before = session.scalar(select(func.count()).select_from(Subject))
    with pytest.raises(InvalidIdNumber) as info:
        register(session, vault=vault, id_number=number, name="王五", actor=SYSTEM)
    assert info.value.code == code
    assert session.scalar(select(func.count()).select_from(Subject)) == before


@pytest.mark.parametrize(("name", "code"), [("", "name_missing"), ("   ", "name_missing"),
                                            ("张" * 65, "name_too_long"), ("张\n三", "name_invalid")])
def test_invalid_name(session, vault, name, code):
    with pytest.raises(SubjectError) as info:
        register(session, vault=vault, id_number=NUMBER, name=name, actor=SYSTEM)
    assert info.value.code == code and info.value.field == "name"
    assert service.find_by_id_number(session, vault=vault, id_number=NUMBER) is None


def test_find_by_id_number(session, vault):
    subject, _ = register(session, vault=vault, id_number=NUMBER, name="李小龙", actor=SYSTEM)
    assert service.find_by_id_number(session, vault=vault, id_number=NUMBER.lower()).id == subject.id
    other = make_id_number("120101", date(1980, 5, 17), 322)
    assert service.find_by_id_number(session, vault=vault, id_number=other) is None


def test_key_group_membership(session, vault):
    subject, _ = register(session, vault=vault, id_number=NUMBER, name="李小龙", actor=SYSTEM)
    m = service.add_group_membership(session, subject=subject, group_code="lawyer", actor=SYSTEM,
                                     qualification_no="A123", valid_from=date(2020, 1, 1))
    assert service.memberships(session, subject_id=subject.id) == [m]
    assert _count(session, "subject.group_add") == 1
    with pytest.raises(SubjectError) as info:
        service.add_group_membership(session, subject=subject, group_code="astronaut", actor=SYSTEM)
    assert (info.value.code, info.value.field) == ("unknown_group", "group_code")
    with pytest.raises(SubjectError) as info:
        service.add_group_membership(session, subject=subject, group_code="teacher", actor=SYSTEM,
                                     valid_from=date(2020, 1, 2), valid_to=date(2020, 1, 1))
    assert info.value.code == "invalid_dates"
    assert session.scalar(select(func.count()).select_from(GroupMembership)) == 1
    assert _count(session, "subject.group_add") == 1


def test_all_eighteen_key_groups_are_known():
    from xinyong.subjects.groups import KEY_GROUPS

    assert len(KEY_GROUPS) == 18
    assert all(zh and en for zh, en in KEY_GROUPS.values())


def _born_years_ago(years: int, days_later: int = 0) -> date:
    from datetime import timedelta

    try:
        d = TODAY.replace(year=TODAY.year - years)
    except ValueError:  # 29 February
        d = TODAY.replace(year=TODAY.year - years, day=28)
    return d + timedelta(days=days_later)


def test_adult_student_only(session, vault):
    # every call on the day the ages were computed for (TODAY is fixed when the module loads; a run
    # that passes midnight would otherwise find the "minor" 18 years old)
    adult, _ = register(session, vault=vault, id_number=make_id_number("110105", _born_years_ago(18), 11),
                        name="成年", actor=SYSTEM)
    minor, _ = register(session, vault=vault, id_number=make_id_number("110105", _born_years_ago(18, 1), 12),
                        name="未成年", actor=SYSTEM)
    s = service.add_student_status(session, subject=adult, school="南开大学", enrolled_on=TODAY, actor=SYSTEM,
                                   vault=vault, level="higher", today=TODAY)
    assert service.student_statuses(session, subject_id=adult.id) == [s]
    with pytest.raises(SubjectError) as info:
        service.add_student_status(session, subject=minor, school="南开中学", enrolled_on=TODAY, actor=SYSTEM,
                                   vault=vault, today=TODAY)
    assert info.value.code == "not_adult"
    assert service.student_statuses(session, subject_id=minor.id) == []
    from datetime import timedelta

    with pytest.raises(SubjectError) as info:
        service.add_student_status(session, subject=adult, school="南开大学", enrolled_on=TODAY + timedelta(days=1),
                                   actor=SYSTEM, vault=vault, today=TODAY)
    assert info.value.code == "future_date"
    with pytest.raises(SubjectError) as info:
        service.add_student_status(session, subject=adult, school="  ", enrolled_on=TODAY, actor=SYSTEM, vault=vault,
                                   today=TODAY)
    assert info.value.code == "school_missing"
    assert session.scalar(select(func.count()).select_from(StudentStatus)) == 1
    assert _count(session, "subject.student_add") == 1


def test_age_on(session, vault):
    s, _ = register(session, vault=vault, id_number=make_id_number("120101", date(2000, 2, 29), 5), name="闰日",
                    actor=SYSTEM)
    assert service.age_on(s, date(2018, 2, 28), vault=vault) == 17
    assert service.age_on(s, date(2018, 3, 1), vault=vault) == 18
