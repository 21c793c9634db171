"""Credit subjects: registration and lookup by ID number, key-group memberships, adult students.

ID numbers enter here and leave at once for the vault: this module keeps only the blind index and
the ciphertexts. The facts the number says (birth date, gender, region) are not stored — with them
a copy of the table narrowed each number to ~500 candidates — but derived from the revealed number
when they are read (:func:`view`, :func:`birth_date`).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.service import Actor, record
from xinyong.catalog.spec import CONTROL_CHARS
from xinyong.db import lock_rows
from xinyong.domain_errors import BilingualError
from xinyong.privacy import identity
from xinyong.privacy.masking import contains_id_number, mask_id_number, mask_id_numbers_in, mask_name
from xinyong.privacy.vault import Vault
from xinyong.subjects.groups import KEY_GROUPS
from xinyong.subjects.models import GroupMembership, StudentStatus, Subject

ADULT_AGE = 18


class SubjectError(BilingualError):
    """A refusal from this domain."""


def lock_subjects(session: Session, subject_ids: Iterable[int]) -> None:
    """Make the transactions that change these subjects' data take turns from here to their end, so
    that what is derived from all of a subject's data (its status, its catalog-fed list entries)
    is computed by each from what the other committed.

    PostgreSQL: the subjects' rows are locked ``FOR NO KEY UPDATE`` until this transaction ends
    (:func:`xinyong.db.lock_rows`). This lock does not conflict with the ``FOR KEY SHARE`` of a
    foreign-key check, nor with readers: a concurrent push still inserts its records, and checks
    still read the stored status; only a second announcement for the same person waits. Without
    it, two departments' pushes for one person at the same moment each computed the status from a
    snapshot without the other's records, and the one that committed last stored a status missing
    the other's (see tests/scoring/test_concurrent_refresh.py).

    SQLite: nothing to do, its writers already take turns from ``BEGIN``."""
    lock_rows(session, "subjects", subject_ids)


def without_invisible(name: str) -> str:
    """A name without the invisible format characters (Unicode Cf: zero-width space and joiners, the
    byte-order mark, soft hyphens, bidirectional overrides) that copying from a web page or a word
    processor brings along: no name on an ID card holds one, and kept, the same person's name sent
    without it would be a mismatch (or an override would show the name reversed)."""
    if name.isprintable():  # (no Cf character is printable: the common case costs one call)
        return name
    return "".join(c for c in name if unicodedata.category(c) != "Cf")


def names_match(a: str, b: str) -> bool:
    """Names compare after trimming and removing inner spaces, invisible characters and the middle
    dot variants."""
    def norm(s: str) -> str:
        return "".join(without_invisible(s).split()).replace("•", "·").replace("．", "·").replace(".", "·")
    return norm(a) == norm(b)


def _validate_name(name: str) -> str:
    name = without_invisible(name or "").strip()
    if not name:
        raise SubjectError("name_missing", "姓名不能为空", "name is required", "name")
    if len(name) > 64:
        raise SubjectError("name_too_long", "姓名不能超过64个字符", "name must not exceed 64 characters", "name")
    if any(ord(c) < 32 for c in name):
        raise SubjectError("name_invalid", "姓名包含控制字符", "name contains control characters", "name")
    return name


def find_by_id_number(session: Session, *, vault: Vault, id_number: str) -> Subject | None:
    return session.scalar(select(Subject).where(Subject.id_bidx == vault.lookup_key(id_number)))


def register(session: Session, *, vault: Vault, id_number: str, name: str, actor: Actor) -> tuple[Subject, bool]:
    """Find the subject with this ID number or create it. Returns (subject, created).

    Raises :class:`identity.InvalidIdNumber` for an invalid number and :class:`SubjectError`
    (``name_mismatch``) if the subject exists under another name.
    """
    facts = identity.check(id_number)
    name = _validate_name(name)
    bidx = vault.lookup_key(facts.number)
    existing = session.scalar(select(Subject).where(Subject.id_bidx == bidx))
    if existing is None:
        sealed = vault.seal_subject(facts.number, name)
        subject = Subject(id_bidx=sealed.id_bidx, id_cipher=sealed.id_cipher, name_cipher=sealed.name_cipher,
                          key_id=sealed.key_id)
        try:
            with session.begin_nested():  # a savepoint: the same person created meanwhile elsewhere
                session.add(subject)
                session.flush()
        except IntegrityError:
            # PostgreSQL: another transaction registered this number first and has committed (the
            # insert waited for it on the unique blind index); use that subject, as if found above
            existing = session.scalar(select(Subject).where(Subject.id_bidx == bidx))
            if existing is None:
                raise
        else:
            record(session, actor=actor, action="subject.create", object_type="subject", object_id=subject.id,
                   details={"name": mask_name(name), "region": facts.region_code})
            return subject, True
    if not names_match(vault.reveal_name(existing.id_bidx, existing.name_cipher, existing.key_id), name):
        raise SubjectError("name_mismatch", "姓名与该身份证号码已登记的姓名不一致",
                           "name does not match the name registered for this ID number", "name")
    return existing, False


@dataclass(frozen=True)
class SubjectView:
    """What a screen or an API may show: masked identity plus derived facts (never the number)."""

    id: int
    id_number_masked: str
    name_masked: str
    birth_date: date
    gender: str
    region_code: str


def _facts(subject: Subject, vault: Vault) -> identity.IdFacts:
    """The facts of the subject's number, derived from it revealed: the table stores none of them.
    The number stays inside this call (and the :class:`IdFacts`, whose repr never shows it)."""
    return identity.facts_of(vault.reveal_id(subject.id_bidx, subject.id_cipher, subject.key_id))


def view(subject: Subject, *, vault: Vault) -> SubjectView:
    facts = _facts(subject, vault)
    return SubjectView(
        id=subject.id,
        id_number_masked=mask_id_number(facts.number),
        name_masked=vault.masked_name(subject.id_bidx, subject.name_cipher, subject.key_id),
        birth_date=facts.birth_date,
        gender=facts.gender,
        region_code=facts.region_code,
    )


def birth_date(subject: Subject, *, vault: Vault) -> date:
    """The subject's birth date, read from their revealed ID number (it is not stored)."""
    return _facts(subject, vault).birth_date


def age_on(subject: Subject, day: date, *, vault: Vault) -> int:
    b = birth_date(subject, vault=vault)
    return day.year - b.year - ((day.month, day.day) < (b.month, b.day))


# A membership's and an enrolment's texts are stored and shown as they are (the subject's API, to every
# department): one line each, and never an ID number in the clear. A number identifying the person
# (a qualification number, a student number) that holds their ID number — a driving licence's is the
# ID number, the national student number (全国学籍号) is "G" and the ID number — is refused, as a
# record's source_id is: masked it would identify no one. A name (employer, school) keeps its text,
# any ID number in it masked, as a record's text fields do.
def _one_line(value: str | None, field: str, zh: str, en: str) -> str | None:
    value = (value or "").strip()
    if not value:
        return None
    if CONTROL_CHARS.search(value):
        raise SubjectError("invalid_characters", f"{zh}包含不允许的字符（控制字符、换行或无效的 Unicode）",
                           f"{en} contains characters not allowed (control characters, line breaks or invalid "
                           "Unicode)", field)
    return value


def _identifier(value: str | None, field: str, zh: str, en: str) -> str | None:
    value = _one_line(value, field, zh, en)
    if value is not None and contains_id_number(value):
        raise SubjectError("contains_id_number", f"{zh}不能包含身份证号码（身份证号码只属于信用主体本身，无需重复报送）",
                           f"{en} must not contain an ID number (the subject already holds it: leave it out)",
                           field)
    return value


def _name_text(value: str | None, field: str, zh: str, en: str) -> str | None:
    value = _one_line(value, field, zh, en)
    return None if value is None else mask_id_numbers_in(value)


def add_group_membership(session: Session, *, subject: Subject, group_code: str, actor: Actor,
                         qualification_no: str | None = None, employer: str | None = None,
                         valid_from: date | None = None, valid_to: date | None = None,
                         department_id: int | None = None) -> GroupMembership:
    if group_code not in KEY_GROUPS:
        raise SubjectError("unknown_group", f"未知的重点人群代码 {group_code}", f"unknown key group {group_code}",
                           "group_code")
    if valid_from and valid_to and valid_to < valid_from:
        raise SubjectError("invalid_dates", "有效期结束早于开始", "valid_to is before valid_from", "valid_to")
    qualification_no = _identifier(qualification_no, "qualification_no", "资格证书编号", "qualification number")
    employer = _name_text(employer, "employer", "工作单位", "employer")
    m = GroupMembership(subject_id=subject.id, group_code=group_code, qualification_no=qualification_no,
                        employer=employer, valid_from=valid_from, valid_to=valid_to, department_id=department_id)
    session.add(m)
    session.flush()
    record(session, actor=actor, action="subject.group_add", object_type="subject", object_id=subject.id,
           details={"group": group_code, "membership": m.id})
    return m


def add_student_status(session: Session, *, subject: Subject, school: str, enrolled_on: date, actor: Actor,
                       vault: Vault, student_no: str | None = None, level: str | None = None,
                       department_id: int | None = None, today: date | None = None) -> StudentStatus:
    """An integrity file is kept only for adult students (18 or older)."""
    today = today or clock.today()
    if not (school or "").strip():
        raise SubjectError("school_missing", "学校名称不能为空", "school is required", "school")
    school = _name_text(school, "school", "学校名称", "school") or ""
    student_no = _identifier(student_no, "student_no", "学号", "student number")
    if age_on(subject, today, vault=vault) < ADULT_AGE:
        raise SubjectError("not_adult", "仅为18周岁以上成年学生建立诚信档案",
                           "integrity files are kept only for students aged 18 or older", "id_number")
    if enrolled_on > today:
        raise SubjectError("future_date", "入学日期不能晚于今天", "enrolment date is in the future", "enrolled_on")
    s = StudentStatus(subject_id=subject.id, school=school, enrolled_on=enrolled_on, student_no=student_no,
                      level=level, department_id=department_id)
    session.add(s)
    session.flush()
    record(session, actor=actor, action="subject.student_add", object_type="subject", object_id=subject.id,
           details={"school": s.school, "status": s.id})
    return s


def memberships(session: Session, *, subject_id: int) -> list[GroupMembership]:
    return list(session.scalars(select(GroupMembership).where(GroupMembership.subject_id == subject_id)
                                .order_by(GroupMembership.id)))


def student_statuses(session: Session, *, subject_id: int) -> list[StudentStatus]:
    return list(session.scalars(select(StudentStatus).where(StudentStatus.subject_id == subject_id)
                                .order_by(StudentStatus.id)))
