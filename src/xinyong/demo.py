"""A demo district: Heping District's departments, users of every role, an API key and synthetic citizens.

:func:`build_demo` is called by ``xinyong demo`` and by tests. It adds everything to the caller's
session and never commits. Later domains (records, scores, lists …) extend it by adding steps after
:func:`add_people` that read :class:`DemoInfo`.

Synthetic people get valid ID numbers of region 120101 (和平区) from
:func:`xinyong.privacy.identity.make_id_number` and Faker zh_CN names, both from the given seed, so a
rebuild with the same seed produces the same people (Faker's output may change between its versions).
Raw ID numbers exist only inside this module's loop and go straight to the vault; they are never
returned, printed or stored unencrypted.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from faker import Faker
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from xinyong import clock
from xinyong.audit.service import Actor, record, record_many
from xinyong.auth import service as auth_service
from xinyong.auth.models import Department, User
from xinyong.privacy import identity
from xinyong.privacy.masking import mask_name
from xinyong.privacy.vault import Vault
from xinyong.subjects import service as subjects_service
from xinyong.subjects.groups import KEY_GROUPS
from xinyong.subjects.models import Subject

DEMO_ACTOR = Actor.system("demo")
DEFAULT_SEED = 20180519  # the day the plan (和平政办〔2018〕10号) was issued
REGION = "120101"

CREDIT_OFFICE = "fgw"
API_KEY_DEPARTMENT = "scjg"
INSTITUTION = "demo_bank"

# (code, 中文名称, English name): the departments the plan (和平政办〔2018〕10号) names.
HEPING_DEPARTMENTS: list[tuple[str, str, str]] = [
    ("fgw", "区发展改革委", "District Development and Reform Commission (Credit Office)"),
    ("scjg", "区市场监管局", "District Market Regulation Bureau"),
    ("gaj", "公安和平分局", "Heping Branch of the Tianjin Public Security Bureau"),
    ("jyj", "区教育局", "District Education Bureau"),
    ("rsj", "区人力社保局", "District Human Resources and Social Security Bureau"),
    ("wjw", "区卫计委", "District Health and Family Planning Commission"),
    ("sfj", "区司法局", "District Justice Bureau"),
    ("swj", "区税务局", "District Taxation Bureau (formerly the Local Taxation Bureau, 区地税局)"),
    ("mzj", "区民政局", "District Civil Affairs Bureau"),
    ("tqw", "团区委", "District Committee of the Communist Youth League"),
    ("jrb", "区金融办", "District Financial Affairs Office"),
    ("jw", "区建委", "District Construction Commission"),
    ("fgj", "区房管局", "District Housing Administration Bureau"),
    ("hbj", "区环保局", "District Environmental Protection Bureau"),
    ("ajj", "区安监局", "District Work Safety Supervision Bureau"),
    ("czj", "区财政局", "District Finance Bureau"),
    ("sww", "区商务委", "District Commerce Commission"),
    ("kw", "区科委", "District Science and Technology Commission"),
    ("wlj", "区文化和旅游局", "District Culture and Tourism Bureau"),
    ("gwyj", "区公务员局", "District Civil Service Bureau"),
    ("spj", "区行政审批局", "District Administrative Approval Bureau"),
    ("jgzd", "公安交管和平支队", "Heping Traffic Police Detachment"),
    ("wxb", "区委网信办", "Cyberspace Affairs Office of the District Committee"),
    ("xcb", "区委宣传部", "Publicity Department of the District Committee"),
    ("wmb", "区文明办", "District Civilization Office"),
    ("zfb", "区政府办公室", "General Office of the District Government"),
    ("fy", "和平区人民法院", "Heping District People's Court (dishonest judgment debtors)"),
]

# Institutions (kind "institution"): they query reports only with a person's authorization.
DEMO_INSTITUTIONS: list[tuple[str, str, str]] = [
    (INSTITUTION, "演示商业银行和平支行", "Demo Commercial Bank, Heping Sub-branch"),
]

# (username, role, department code or None, 说明 / note)
DEMO_USERS: list[tuple[str, str, str | None, str]] = [
    ("admin", "admin", None, "平台管理员（信用办） / platform administrator (credit office)"),
    ("fgw_officer", "officer", "fgw", "区发展改革委工作人员 / credit office officer"),
    ("scjg_officer", "officer", "scjg", "区市场监管局工作人员 / market regulation officer"),
    ("gaj_officer", "officer", "gaj", "公安和平分局工作人员 / police officer"),
    ("jyj_officer", "officer", "jyj", "区教育局工作人员 / education officer"),
    ("bank_user", "institution", INSTITUTION, "银行查询员 / bank query clerk"),
    ("citizen", "citizen", None, "公民（绑定一名演示人员） / citizen bound to a demo person"),
    ("auditor", "auditor", None, "审计员 / auditor"),
]

# Which department keeps each key group's records (who "owns" the membership).
GROUP_DEPARTMENT: dict[str, str] = {
    "civil_servant": "gwyj",
    "legal_representative": "scjg",
    "lawyer": "sfj",
    "teacher": "jyj",
    "physician": "wjw",
    "pharmacist": "scjg",
    "tax_agent": "swj",
    "eia_engineer": "hbj",
    "accountant_auditor": "czj",
    "construction_registered": "jw",
    "asset_appraiser": "czj",
    "real_estate_agent": "fgj",
    "certification_staff": "scjg",
    "researcher": "kw",
    "insurance_broker": "jrb",
    "finance_staff": "jrb",
    "statistics_staff": "fgw",
    "journalist": "wxb",
}

SCHOOLS = ["天津医科大学", "天津外国语大学", "天津职业大学", "天津开放大学和平分校"]

UNCHANGED = "(unchanged)"  # reported instead of a password for an account that existed already
SUBJECT_BATCH = 1000
GROUP_SHARE = 0.12  # share of working-age people in a key group
STUDENT_EVERY = 20  # one person in 20 is an adult student (18-23)
MINOR_EVERY = 50  # one in 50 is 16 or 17 (no integrity file: not an adult)


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str = field(repr=False)
    role: str
    department: str | None
    note: str


@dataclass
class DemoInfo:
    """What the demo built. Holds no raw ID number; passwords and the API key are shown once."""

    departments: dict[str, int]  # code -> id (departments and institutions)
    users: list[DemoUser]
    api_key: str = field(repr=False)
    api_key_department: str
    subjects: int
    subject_ids: list[int] = field(repr=False)
    citizen_subject_id: int
    memberships: int
    students: int
    catalog_items: int = 0  # catalog items this build loaded (0 if the catalog was there already)
    seconds: float = 0.0
    extras: dict[str, Any] = field(default_factory=dict)  # for later steps (records, scores …)


# ---- steps ---------------------------------------------------------------------------------

def load_catalog(session: Session, *, actor: Actor = DEMO_ACTOR) -> int:
    """The catalog shipped with xinyong (what ``xinyong init`` loads too). Returns items added."""
    from xinyong.catalog.service import load_default

    return sum(1 for what in load_default(session, actor=actor).values() if what == "created")


def add_departments(session: Session, *, actor: Actor = DEMO_ACTOR) -> dict[str, int]:
    """Heping District's departments and the demo institution (skips codes that already exist)."""
    existing = {code: did for code, did in session.execute(select(Department.code, Department.id))}
    out: dict[str, int] = {}
    for kind, rows in (("department", HEPING_DEPARTMENTS), ("institution", DEMO_INSTITUTIONS)):
        for code, name, name_en in rows:
            if code in existing:
                out[code] = existing[code]
                continue
            dept = auth_service.add_department(session, code=code, name=name, name_en=name_en, kind=kind,
                                               actor=actor)
            out[code] = dept.id
    return out


def _birth(rng: random.Random, today: date, min_age: int, max_age: int) -> date:
    """A birth date making the person at least ``min_age`` and under ``max_age + 1`` today."""
    youngest = today - timedelta(days=min_age * 366 + 2)
    oldest = today - timedelta(days=(max_age + 1) * 365 - 2)
    return oldest + timedelta(days=rng.randrange((youngest - oldest).days + 1))


def add_people(session: Session, *, vault: Vault, people: int, seed: int, actor: Actor = DEMO_ACTOR,
               today: date | None = None, collect: list[tuple[str, str]] | None = None,
               ) -> tuple[list[int], list[int]]:
    """Insert ``people`` synthetic citizens in batches (seal, bulk INSERT, bulk audit entries).

    Returns (all subject ids in creation order, ids of the adult students-to-be). With ``collect``,
    the adults' (ID number, name) pairs are appended to it, in memory only, so that the demo can
    push records for them through the ingestion service as a department would.
    """
    today = today or clock.today()
    rng = random.Random(seed)
    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    used: set[tuple[date, int]] = set()
    subject_ids: list[int] = []
    student_ids: list[int] = []
    i = 0
    while i < people:
        rows: list[dict[str, Any]] = []
        notes: list[dict[str, Any]] = []
        students_in_batch: list[bool] = []
        for _ in range(min(SUBJECT_BATCH, people - i)):
            if i % STUDENT_EVERY == STUDENT_EVERY - 1:
                lo, hi, student = 18, 23, True
            elif i % MINOR_EVERY == MINOR_EVERY - 1:
                lo, hi, student = 16, 17, False
            else:
                lo, hi, student = 24, 85, False
            while True:
                born, seq = _birth(rng, today, lo, hi), rng.randrange(1000)
                if (born, seq) not in used:
                    used.add((born, seq))
                    break
            facts = identity.check(identity.make_id_number(REGION, born, seq), today=today)
            name = fake.name_male() if facts.gender == "M" else fake.name_female()
            sealed = vault.seal_subject(facts.number, name)
            rows.append({"id_bidx": sealed.id_bidx, "id_cipher": sealed.id_cipher,
                         "name_cipher": sealed.name_cipher, "key_id": sealed.key_id})
            notes.append({"name": mask_name(name), "region": facts.region_code, "source": "demo"})
            if collect is not None and lo >= 18:
                collect.append((facts.number, name))
            students_in_batch.append(student)
            i += 1
        # Skip anyone already registered (a demo built on a database that holds people).
        present = set(session.scalars(
            select(Subject.id_bidx).where(Subject.id_bidx.in_([r["id_bidx"] for r in rows]))))
        keep = [k for k, r in enumerate(rows) if r["id_bidx"] not in present]
        if not keep:
            continue
        ids = list(session.scalars(insert(Subject).returning(Subject.id, sort_by_parameter_order=True),
                                   [rows[k] for k in keep]))
        record_many(session, actor=actor, action="subject.create", object_type="subject",
                    items=[(sid, notes[k]) for sid, k in zip(ids, keep, strict=True)])
        subject_ids.extend(ids)
        student_ids.extend(sid for sid, k in zip(ids, keep, strict=True) if students_in_batch[k])
    return subject_ids, student_ids


def add_memberships(session: Session, *, vault: Vault, subject_ids: list[int], departments: dict[str, int], seed: int,
                    actor: Actor = DEMO_ACTOR, today: date | None = None) -> int:
    """Key-group memberships (重点人群) for a share of working-age people, through the service."""
    today = today or clock.today()
    rng = random.Random(seed + 1)
    groups = sorted(KEY_GROUPS)
    n = 0
    subjects = session.scalars(select(Subject).where(Subject.id.in_(subject_ids)).order_by(Subject.id)).all()
    for subject in subjects:
        if subjects_service.age_on(subject, today, vault=vault) < 24 or rng.random() >= GROUP_SHARE:
            continue
        code = rng.choice(groups)
        since = today - timedelta(days=rng.randrange(30, 20 * 365))
        subjects_service.add_group_membership(
            session, subject=subject, group_code=code, actor=actor,
            qualification_no=f"Q{REGION}{rng.randrange(10**8):08d}",
            employer=None, valid_from=since, valid_to=None,
            department_id=departments.get(GROUP_DEPARTMENT.get(code, CREDIT_OFFICE)),
        )
        n += 1
    return n


def add_students(session: Session, *, vault: Vault, student_ids: list[int], departments: dict[str, int], seed: int,
                 actor: Actor = DEMO_ACTOR, today: date | None = None) -> int:
    """Adult students' integrity files (成年学生诚信档案), through the service (which checks age 18+)."""
    today = today or clock.today()
    rng = random.Random(seed + 2)
    n = 0
    for subject in session.scalars(select(Subject).where(Subject.id.in_(student_ids)).order_by(Subject.id)):
        enrolled = date(today.year - rng.randrange(0, 4), 9, 1)
        if enrolled > today:
            enrolled = date(enrolled.year - 1, 9, 1)
        subjects_service.add_student_status(
            session, subject=subject, school=rng.choice(SCHOOLS), enrolled_on=enrolled, actor=actor, vault=vault,
            student_no=f"{enrolled.year}{rng.randrange(10**6):06d}", level="higher",
            department_id=departments.get("jyj"), today=today,
        )
        n += 1
    return n


def add_users(session: Session, *, departments: dict[str, int], citizen_subject_id: int,
              actor: Actor = DEMO_ACTOR) -> list[DemoUser]:
    """One account per role, each with a fresh random password (shown once by the caller).

    A username that exists already (``admin`` after ``xinyong init``) is left alone: its password is
    reported as :data:`UNCHANGED`.
    """
    taken = set(session.scalars(select(User.username).where(User.username.in_([u[0] for u in DEMO_USERS]))))
    out: list[DemoUser] = []
    for username, role, dept_code, note in DEMO_USERS:
        if username in taken:
            out.append(DemoUser(username=username, password=UNCHANGED, role=role, department=dept_code,
                                note=note))
            continue
        password = auth_service.random_password(12)
        auth_service.add_user(
            session, username=username, password=password, role=role, actor=actor,
            department_id=departments[dept_code] if dept_code else None,
            subject_id=citizen_subject_id if role == "citizen" else None,
        )
        out.append(DemoUser(username=username, password=password, role=role, department=dept_code, note=note))
    return out


def add_records(session: Session, *, vault: Vault, people: list[tuple[str, str]], departments: dict[str, int],
                seed: int, today: date | None = None) -> dict[str, int]:
    """Push a realistic mix of records (every item and severity, some old, some later revoked)
    through the same ingestion service departments use: each department's deliveries in turn, a
    delivery's records in batches of 1,000, each batch sent on its delivery day (so the data-quality
    page shows most on time and some late, not every record as delivered today)."""
    from xinyong.catalog.service import current_items
    from xinyong.records import demo as record_demo
    from xinyong.records import service as records

    today = today or clock.today()
    mix = record_demo.build(people, today=today, seed=seed)
    counts: dict[str, int] = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0, "revoked": 0}
    items = current_items(session)
    for code, recs in mix.by_department.items():
        dept = records.DepartmentRef(departments[code], code)
        actor = Actor(type="system", label=f"demo:{code}", department_id=dept.id)
        ids: dict[str, int] = {}
        by_day: dict[date, list[dict[str, Any]]] = {}
        for rec in recs:
            by_day.setdefault(mix.arrivals[rec["source_id"]], []).append(rec)
        for day in sorted(by_day):
            delivery = by_day[day]
            for i in range(0, len(delivery), 1000):
                chunk = delivery[i:i + 1000]
                for rec, out in zip(chunk, records.ingest(session, vault=vault, department=dept, records=chunk,
                                                           actor=actor, today=today, items=items, arrived_on=day),
                                    strict=True):
                    counts[out.status] += 1
                    if out.record_id is not None:
                        ids[rec["source_id"]] = out.record_id
        for source_id in mix.to_revoke.get(code, []):
            rec_row = session.get(records.Record, ids[source_id])
            if rec_row is not None and rec_row.status != "revoked":
                records.revoke(session, rec=rec_row, reason="原处罚决定已被依法撤销（演示） / decision revoked (demo)",
                               actor=actor)
                counts["revoked"] += 1
    return counts


def build_demo(session: Session, *, vault: Vault, people: int = 2000, seed: int = DEFAULT_SEED,
               today: date | None = None) -> DemoInfo:
    """Build the demo district in ``session`` (not committed). ``people`` must be at least 1."""
    if people < 1:
        raise ValueError("people must be at least 1")
    started = time.perf_counter()
    catalog_items = load_catalog(session)
    departments = add_departments(session)
    adults: list[tuple[str, str]] = []
    subject_ids, student_ids = add_people(session, vault=vault, people=people, seed=seed, today=today,
                                          collect=adults)
    if not subject_ids:
        raise ValueError("the demo people are all registered already")
    # The demo citizen: the first adult who is not a student.
    students_set = set(student_ids)
    citizen_id = next((sid for sid in subject_ids if sid not in students_set), subject_ids[0])
    memberships = add_memberships(session, vault=vault, subject_ids=subject_ids, departments=departments, seed=seed,
                                  today=today)
    students = add_students(session, vault=vault, student_ids=student_ids, departments=departments, seed=seed,
                            today=today)
    users = add_users(session, departments=departments, citizen_subject_id=citizen_id)
    record_counts = add_records(session, vault=vault, people=adults, departments=departments, seed=seed,
                                today=today) if adults else {}
    from xinyong.lists.demo import add_demo_lists

    list_counts = add_demo_lists(session, subject_ids=subject_ids, departments=departments, today=today, seed=seed)
    from xinyong.scoring.demo import add_demo_scores

    score_counts = add_demo_scores(session, today=today or clock.today(), vault=vault, people=adults)
    adults.clear()
    api_key, key_row = auth_service.create_api_key(
        session, department=session.get_one(Department, departments[API_KEY_DEPARTMENT]),
        name="市场监管业务系统（演示） / market regulation system (demo)", actor=DEMO_ACTOR)
    record(session, actor=DEMO_ACTOR, action="demo.build", details={
        "people": len(subject_ids), "memberships": memberships, "students": students,
        "departments": len(departments), "users": len(users), "seed": seed,
    })
    from xinyong.measures.demo import add_demo_checks

    checks = add_demo_checks(session, vault=vault, department_code=API_KEY_DEPARTMENT, actor=DEMO_ACTOR)
    return DemoInfo(departments=departments, users=users, api_key=api_key,
                    api_key_department=API_KEY_DEPARTMENT, subjects=len(subject_ids),
                    subject_ids=subject_ids, citizen_subject_id=citizen_id,
                    memberships=memberships, students=students, catalog_items=catalog_items,
                    seconds=time.perf_counter() - started,
                    extras={"api_key_id": key_row.id, "records": record_counts, "checks": checks,
                            "lists": list_counts, "scores": score_counts})
