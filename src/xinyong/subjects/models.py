from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from xinyong.db import Base, BigId, UTCDateTime, utcnow


class Subject(Base):
    """A citizen. The ID number is stored only as ciphertext and as a keyed blind index.

    Nothing derived from the number is stored beside them: birth date, gender and region code are
    15 of its 18 digits, and with them a copy of the table narrowed each number to ~500 candidates
    (migration 0019 dropped them). They are derived from the revealed number when read
    (``subjects.service.view``, ``birth_date``)."""

    __tablename__ = "subjects"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    id_bidx: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    id_cipher: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    name_cipher: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    key_id: Mapped[str] = mapped_column(String(16), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow, nullable=False)


class GroupMembership(Base):
    """Membership of a key occupational group (重点人群)."""

    __tablename__ = "subject_group_memberships"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), nullable=False)
    group_code: Mapped[str] = mapped_column(String(32), nullable=False)
    qualification_no: Mapped[str | None] = mapped_column(String(64))
    employer: Mapped[str | None] = mapped_column(String(128))
    valid_from: Mapped[date | None] = mapped_column(Date)
    valid_to: Mapped[date | None] = mapped_column(Date)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_subject_group_memberships_subject", "subject_id", "group_code"),)


class StudentStatus(Base):
    """An adult student's enrolment (成年学生诚信档案), from the school-roll system."""

    __tablename__ = "student_statuses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_id: Mapped[int] = mapped_column(ForeignKey("subjects.id"), nullable=False, index=True)
    school: Mapped[str] = mapped_column(String(128), nullable=False)
    student_no: Mapped[str | None] = mapped_column(String(64))
    level: Mapped[str | None] = mapped_column(String(32))  # higher|vocational|adult|basic
    enrolled_on: Mapped[date] = mapped_column(Date, nullable=False)
    left_on: Mapped[date | None] = mapped_column(Date)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
