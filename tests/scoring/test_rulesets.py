"""Rulesets: validation with line numbers, versions effective from a date, regrading on that day."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from tests.scoring.scoring_support import TODAY, honour, penalty, push, setup
from tests.support import SYSTEM

from xinyong.scoring import service
from xinyong.scoring.models import ScoreHistory, ScoringRuleset, SubjectStatus
from xinyong.scoring.ruleset import RulesetError

DEFAULT = service.default_text()


def refused(session, text: str) -> RulesetError:  # type: ignore[no-untyped-def]
    with pytest.raises(RulesetError) as info:
        service.validate(session, text)
    return info.value


def line_of(text: str, fragment: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.fixture
def ready(session):  # type: ignore[no-untyped-def]
    dept = setup(session)
    service.ensure_default(session)
    return dept


def test_default_ruleset_is_valid(session, ready) -> None:  # type: ignore[no-untyped-def]
    rs = service.validate(session, DEFAULT)
    assert rs.base == 1000 and [b.grade for b in rs.bands] == ["AAA", "AA", "A", "B", "C", "D"]
    assert rs.grade_of(1050) == "AAA" and rs.grade_of(1049) == "AA" and rs.grade_of(960) == "A"
    assert rs.grade_of(959) == "B" and rs.grade_of(600) == "C" and rs.grade_of(599) == "D"


@pytest.mark.parametrize(("old", "new", "code", "path"), [
    ("  blood_donation:", "  blood_transfusion:", "unknown_item", "items.blood_transfusion"),
    ("      minor: {points: -5, window_months: 12}", "      petty: {points: -5, window_months: 12}",
     "unknown_severity", "items.admin_penalty.by_severity.petty"),
    ("      street: {points: 3, window_months: 36}", "      village: {points: 3, window_months: 36}",
     "unknown_level", "items.honor.by_level.village"),
    ("  - {grade: A, min: 960, max: 1029}", "  - {grade: A, min: 960, max: 1035}", "overlapping_bands", "grades[2].max"),
    ("  - {grade: B, min: 850, max: 959}", "  - {grade: B, min: 850, max: 949}", "gap_between_bands", "grades[3].max"),
    ("      general: {points: -20, window_months: 12}", "      general: {points: lots, window_months: 12}",
     "not_a_number", "items.admin_penalty.by_severity.general.points"),
    ("  blood_donation:", "  blood_donation:\n    by_severity: {general: {points: 1, window_months: 1}}",
     "not_applicable", "items.blood_donation.by_severity"),
    # YAML's .nan is a float but not a number of hours: accepted, it broke the tiers (NaN compares false)
    ("      - {min_hours: 1500, points: 30, window_months: 36}", "      - {min_hours: .nan, points: 30, window_months: 36}",
     "not_a_number", "items.volunteer_service.by_hours[4].min_hours"),
    # an item given twice: YAML kept the second silently and the first item's rules were dropped
    ("  blood_donation:", "  admin_penalty:\n    default: {points: -1, window_months: 1}\n  blood_donation:",
     "duplicate_key", "items.admin_penalty"),
])
def test_bad_ruleset_refused_with_line_and_reason(session, ready, old, new, code, path) -> None:  # type: ignore[no-untyped-def]
    assert old in DEFAULT
    text = DEFAULT.replace(old, new, 1)
    exc = refused(session, text)
    err = next(e for e in exc.errors if e["code"] == code)
    assert err["field"] == path
    first_new_line = new.splitlines()[-1] if code == "not_applicable" else new.splitlines()[0]
    if code == "duplicate_key":  # the repeat is named, not the first occurrence
        assert err["line"] == text.splitlines().index(first_new_line, line_of(text, first_new_line.strip())) + 1
    else:
        assert err["line"] == line_of(text, first_new_line.strip())
    assert f"第{err['line']}行" in err["message"] and f"line {err['line']}" in err["message"]
    assert " / " in err["message"]


def test_several_problems_reported_together_and_nothing_stored(session, ready) -> None:  # type: ignore[no-untyped-def]
    text = DEFAULT.replace("base: 1000", "base: high").replace("  honor:", "  honour:")
    before = session.scalar(select(func.count()).select_from(ScoringRuleset))
    with pytest.raises(RulesetError) as info:
        service.save_ruleset(session, text_=text, actor=SYSTEM, today=TODAY, effective_from=TODAY)
    assert {e["code"] for e in info.value.errors} >= {"not_a_number", "unknown_item"}
    assert session.scalar(select(func.count()).select_from(ScoringRuleset)) == before
    assert service.active_version(session, today=TODAY) == 1


def test_yaml_syntax_error_names_the_line(session, ready) -> None:  # type: ignore[no-untyped-def]
    exc = refused(session, "base: 1000\ngrades: [\n  {grade: A\n")
    assert exc.errors[0]["code"] == "yaml_syntax" and exc.errors[0]["line"] is not None


def test_past_effective_date_refused(session, ready) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(service.ScoringError) as info:
        service.save_ruleset(session, text_=DEFAULT, actor=SYSTEM, today=TODAY, effective_from=date(2026, 11, 1))
    assert info.value.code == "effective_in_past"


def test_ruleset_change_regrades_on_its_effective_date_not_before(session, vault, ready) -> None:  # type: ignore[no-untyped-def]
    a, _ = push(session, vault, ready, [honour("national")])  # 1030 AA
    b, _ = push(session, vault, ready, [penalty("general")])  # 980 A
    service.rescore(session, today=TODAY)
    stricter = DEFAULT.replace("base: 1000", "base: 960")  # a: 990 A, b: 940 B
    row = service.save_ruleset(session, text_=stricter, actor=SYSTEM, today=TODAY,
                               effective_from=date(2026, 12, 1), note="stricter")
    assert row.version == 2
    assert service.maintain(session, today=date(2026, 11, 30))["ruleset_version"] == 1
    assert session.get(SubjectStatus, a).grade == "AA"
    assert service.maintain(session, today=date(2026, 12, 1)) == {"action": "rescore", "ruleset_version": 2,
                                                                   "subjects": 2}
    for sid, score, grade in ((a, 990, "A"), (b, 940, "B")):
        st = session.get(SubjectStatus, sid)
        session.refresh(st)
        assert (st.score, st.grade, st.ruleset_version) == (score, grade, 2)
        h = session.scalars(select(ScoreHistory).where(ScoreHistory.subject_id == sid)
                            .order_by(ScoreHistory.id.desc())).first()
        assert (h.reason, h.ruleset_version, h.on_day) == ("ruleset", 2, date(2026, 12, 1))
    assert service.default_status(session, today=date(2026, 12, 1)).score == 960
    assert service.default_status(session, today=date(2026, 11, 30)).score == 1000


def test_ruleset_effective_today_applies_at_once(session, vault, ready) -> None:  # type: ignore[no-untyped-def]
    a, _ = push(session, vault, ready, [honour("national")])
    service.save_ruleset(session, text_=DEFAULT.replace("base: 1000", "base: 1020"), actor=SYSTEM, today=TODAY,
                         effective_from=TODAY)
    st = session.get(SubjectStatus, a)
    session.refresh(st)
    assert (st.score, st.grade, st.ruleset_version) == (1050, "AAA", 2)


def test_preview_counts_grade_changes_and_writes_nothing(session, vault, ready) -> None:  # type: ignore[no-untyped-def]
    push(session, vault, ready, [honour("national")])
    push(session, vault, ready, [penalty("general")])
    push(session, vault, ready, [penalty("general", item="traffic_violation")])
    service.rescore(session, today=TODAY)
    counts = {t: session.scalar(select(func.count()).select_from(t)) for t in (ScoringRuleset, SubjectStatus,
                                                                              ScoreHistory)}
    out = service.preview(session, text_=DEFAULT.replace("base: 1000", "base: 960"), today=TODAY)
    assert out["subjects"] == 3 and out["changed"] == 3
    assert {(c["from"], c["to"]): c["count"] for c in out["changes"]} == {("AA", "A"): 1, ("A", "B"): 2}
    assert {t: session.scalar(select(func.count()).select_from(t)) for t in counts} == counts
    assert service.rules_of(session, service.PREVIEW_VERSION) == []


def test_a_forced_grade_without_its_grade_says_so(session, ready) -> None:  # type: ignore[no-untyped-def]
    text = DEFAULT.replace("force_grade:\n  grade: D\n", "force_grade:\n", 1)
    assert text != DEFAULT
    exc = refused(session, text)
    err = next(e for e in exc.errors if e["field"] == "force_grade.grade")
    assert err["code"] == "missing" and "缺少强制等级" in err["message"] and "None" not in err["message"]


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\ufffe"])
def test_a_character_yaml_does_not_allow_is_refused_with_its_line(session, ready, char) -> None:  # type: ignore[no-untyped-def]
    """A control character (a NUL pasted in, an escape) is a YAML syntax error, refused with its line
    like any other, and nothing is stored — PyYAML's reader refuses it before parsing, and that
    refusal escaped as a 500."""
    text = DEFAULT.replace("base: 1000", f"base: 1000  # {char}")
    err = refused(session, text)
    assert err.code == "yaml_syntax" and err.line == line_of(text, "base: 1000")
    assert f"第{err.line}行" in err.errors[0]["message"]
    with pytest.raises(RulesetError):
        service.save_ruleset(session, text_=text, actor=SYSTEM, effective_from=TODAY, today=TODAY)
    assert session.scalar(select(func.count()).select_from(ScoringRuleset)) == 1


LAUGHS = "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9) if i else ', '.join(['x'] * 9)}]\n" for i in range(7))


@pytest.mark.parametrize(("text", "code", "line"), [
    # an alias of a node holding itself: the walk that records lines recursed without end (a 500)
    ("base: &b [*b]\n", "yaml_alias", 1),
    # aliases of aliases: seven lines stand for 9^6 nodes, each walked and given a path (a few more lines: memory, minutes)
    (LAUGHS, "yaml_alias", 2),
    ("base: 1000\nitems:\n  honor: &h {default: {points: 1, window_months: 1}}\n  blood_donation: *h\n",
     "yaml_alias", 4),
    # nested thousands deep: PyYAML composes recursively (RecursionError, a 500)
    ("base: " + "[" * 3000 + "]" * 3000 + "\n", "too_deep", None),
    # a list or a mapping as a key: unhashable (TypeError, a 500)
    ("base: 1000\n? [a, b]\n: 1\n", "wrong_type", 2),
    ("base: 1000\n? {a: 1}\n: 1\n", "wrong_type", 2),
])
def test_yaml_that_cannot_be_walked_is_refused_not_a_crash(session, ready, text, code, line) -> None:  # type: ignore[no-untyped-def]
    """YAML whose shape the line-recording walk could not follow is refused like a syntax error, with
    its line where it has one, and nothing is stored."""
    import time

    started = time.perf_counter()
    err = refused(session, text)
    assert time.perf_counter() - started < 5
    assert err.errors[0]["code"] == code and err.errors[0]["line"] == line, err.errors
    assert " / " in err.errors[0]["message"]
    with pytest.raises(RulesetError):
        service.save_ruleset(session, text_=text, actor=SYSTEM, effective_from=TODAY, today=TODAY)
    assert session.scalar(select(func.count()).select_from(ScoringRuleset)) == 1


def test_a_versions_note_keeps_no_id_number_and_no_control_character(session, ready) -> None:  # type: ignore[no-untyped-def]
    """A version's note is shown on the rulesets page and in the API and audited: an ID number
    written in it is kept masked (as a catalog version's change note is), and a control character
    (a NUL, which PostgreSQL cannot store: a 500) is refused naming the note; nothing is stored."""
    from xinyong.audit.models import AuditEntry
    from xinyong.privacy.identity import make_id_number

    number = make_id_number("120101", date(1980, 5, 6), 101)
    row = service.save_ruleset(session, text_=DEFAULT, actor=SYSTEM, effective_from=date(2026, 12, 30),
                               today=TODAY, note=f"应 {number} 投诉修改")
    assert row.note == f"应 {number[:6]}********{number[-4:]} 投诉修改"
    assert number not in str(session.scalars(select(AuditEntry.details).where(
        AuditEntry.action == "scoring.ruleset_create")).all())
    for bad in ("a\x00b", "a\x1bb"):
        with pytest.raises(service.ScoringError) as info:
            service.save_ruleset(session, text_=DEFAULT, actor=SYSTEM, effective_from=date(2026, 12, 31),
                                 today=TODAY, note=bad)
        assert (info.value.code, info.value.field) == ("invalid_characters", "note")
    assert session.scalar(select(func.count()).select_from(ScoringRuleset)) == 2
