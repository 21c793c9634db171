"""Recording, sealing and verifying the audit log.

* :func:`record` adds an entry to the caller's session: it commits with the change or not at all,
  and if the insert fails the change fails.
* :func:`seal_pending` (``xinyong audit seal`` and a background task in the server) gives committed
  entries a sequence number and chains them: ``entry_hash = SHA-256(canonical(entry) )`` where the
  canonical encoding includes ``seq`` and ``prev_hash``. One sealer at a time (a lock row). The
  server's sealer plans outside the lock (:func:`plan_seal`, read only) and holds it only to write
  the plan (:func:`apply_seal`), so that check requests never wait behind the hashing.
* :func:`verify` walks the chain in ``seq`` order and names the first entry altered, removed,
  inserted or reordered; with a signed checkpoint it also catches a truncated tail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from xinyong.audit.models import AuditCheckpoint, AuditEntry
from xinyong.context import client_ip_var, request_id_var
from xinyong.db import utcnow
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.masking import mask_id_numbers_in, may_hold_id_number

GENESIS = "0" * 64


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did it. Built by ``auth`` from a user, an API key, or the system (CLI, scheduler)."""

    type: str  # user | apikey | system | anonymous
    id: str | None = None
    label: str | None = None
    department_id: int | None = None

    @classmethod
    def system(cls, label: str = "system") -> Actor:
        return cls(type="system", id=None, label=label)


def _scrub(value: Any) -> Any:
    """Defence in depth: mask anything shaped like an ID number that a caller put in an entry,
    in strings, in mapping keys, and in 18-digit integers."""
    if isinstance(value, str):
        return mask_id_numbers_in(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and 10**17 <= abs(value) < 10**18:
        return mask_id_numbers_in(str(value))
    if isinstance(value, Mapping):
        return {_scrub(str(k)): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _scrub_details(details: dict[str, Any]) -> dict[str, Any]:
    """Scan the serialised details once (cheap for the large batch entries of ingestion) and walk
    them with :func:`_scrub` only when 17 consecutive digits appear anywhere."""
    try:
        blob = orjson.dumps(details, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return _scrub(details)
    return _scrub(details) if may_hold_id_number(blob.decode("utf-8")) else details


# Control characters in an entry's short texts (a user name typed at sign-in, a code refused for its
# shape) are written as ``\x00`` …, as the log writes them: a NUL cannot be stored on PostgreSQL (the
# refusal's own registration was a 500 there) and a line break would forge what the audit page shows.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _scrub_text(value: Any, limit: int) -> str | None:
    """A short text as stored: ID numbers masked, control characters escaped, and at most ``limit``
    characters (its column's length: an escape is four characters, so a text the caller had cut to
    fit could outgrow its column — PostgreSQL refused the entry, a 500 — and is cut again here, never
    inside an escape)."""
    if value is None:
        return None
    text = _scrub(str(value))
    if not _CONTROL.search(text):
        return text
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)
    if len(text) > limit:
        text = _PART_ESCAPE.sub("", text[:limit])
    return text


_PART_ESCAPE = re.compile(r"\\(?:x[0-9a-f]?)?$")  # an escape cut short at the end of a text
# each short text's column length, from the model
_LENGTH = {name: AuditEntry.__table__.c[name].type.length
           for name in ("actor_id", "actor_label", "action", "object_type", "object_id")}


def _row(actor: Actor, action: str, object_type: str | None, object_id: Any, details: Mapping[str, Any] | None,
         outcome: str) -> dict[str, Any]:
    return {
        "occurred_at": utcnow(),
        "actor_type": actor.type,
        "actor_id": _scrub_text(actor.id, _LENGTH["actor_id"]),
        "actor_label": _scrub_text(actor.label, _LENGTH["actor_label"]) if actor.label else None,
        "department_id": actor.department_id,
        "action": _scrub_text(action, _LENGTH["action"]),
        "object_type": _scrub_text(object_type, _LENGTH["object_type"]),
        "object_id": _scrub_text(object_id, _LENGTH["object_id"]),
        "outcome": outcome,
        "request_id": request_id_var.get(),
        "ip": client_ip_var.get(),
        "details": _scrub_details(dict(details or {})),
    }


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str | None = None,
    object_id: Any = None,
    details: Mapping[str, Any] | None = None,
    outcome: str = "ok",
) -> AuditEntry:
    entry = AuditEntry(**_row(actor, action, object_type, object_id, details, outcome))
    session.add(entry)
    return entry


def record_refusal(session: Session, *, actor: Actor, action: str, details: Mapping[str, Any],
                   object_type: str | None = None, object_id: Any = None, outcome: str = "denied") -> None:
    """Register a refusal durably (``outcome = denied``; ``failed`` for refused input, such as a
    duplicate department code or an invalid ID number): drop whatever the request did so far, write
    the entry, commit — the refused request's rollback would otherwise take the entry with it.
    (``auth.deps.audit_refusal`` is this function.)"""
    session.rollback()
    record(session, actor=actor, action=action, object_type=object_type, object_id=object_id, outcome=outcome,
           details=dict(details))
    session.commit()


def record_not_found(session: Session, *, actor: Actor, action: str, object_type: str, object_id: Any,
                     details: Mapping[str, Any] | None = None) -> None:
    """A look at an object the caller may not see — answered 404, as one that does not exist — is
    registered durably as a refusal (:func:`record_refusal`) with ``reason: not_found`` and any
    ``details``, such as ``via: page``. ``action`` names what was tried (``record.read``,
    ``imports.report`` …)."""
    record_refusal(session, actor=actor, action=action, object_type=object_type, object_id=object_id,
                   details={"reason": "not_found", **(details or {})})


def record_many(session: Session, *, actor: Actor, action: str, object_type: str | None,
                items: Iterable[tuple[Any, Mapping[str, Any] | None]], outcome: str = "ok") -> int:
    """Bulk form for ingestion paths: one INSERT … executemany for many entries."""
    from xinyong.bulk import insert_rows

    rows = [_row(actor, action, object_type, oid, det, outcome) for oid, det in items]
    insert_rows(session, AuditEntry.__table__, rows)
    return len(rows)


# ---- reading --------------------------------------------------------------------------------

OUTCOMES = ("ok", "denied", "failed", "error")  # error: a job that failed or was interrupted


def list_entries(session: Session, *, action: str | None = None, actor: str | None = None,
                 outcome: str | None = None, object_type: str | None = None, object_id: str | None = None,
                 occurred_from: datetime | None = None, occurred_before: datetime | None = None,
                 before_id: int | None = None, limit: int = 100) -> list[AuditEntry]:
    """Entries newest first (by id), at most ``limit``, those with an id below ``before_id`` (paging).
    Each filter given must hold: ``action``, ``outcome``, ``object_type`` and ``object_id`` exactly;
    ``actor`` is the actor's name (a user name, a key's label) or id, exactly; ``occurred_from`` (incl.)
    and ``occurred_before`` (excl.) bound the time. Reads only: the caller registers the read (the API's
    and the page's ``audit.read``).

    Each filter has its index (migration 0020). With a time bound or an actor the order is written
    ``id + 0``, which no index gives: the entries are found by the filter's index and the newest kept (a
    sort of the matching entries). Ordered by the primary key, PostgreSQL's planner walked the log
    backwards from its newest entry, to reach a past week or a rare actor (it counts on the matching
    entries being spread evenly over the ids; a week's are all together, an actor's may be none)."""
    narrowed = bool(actor) or occurred_from is not None or occurred_before is not None
    stmt = select(AuditEntry).order_by((AuditEntry.id + 0).desc() if narrowed else AuditEntry.id.desc()).limit(limit)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor:
        stmt = stmt.where(or_(AuditEntry.actor_label == actor, AuditEntry.actor_id == actor))
    if outcome:
        stmt = stmt.where(AuditEntry.outcome == outcome)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if occurred_from is not None:
        stmt = stmt.where(AuditEntry.occurred_at >= occurred_from)
    if occurred_before is not None:
        stmt = stmt.where(AuditEntry.occurred_at < occurred_before)
    if before_id:
        stmt = stmt.where(AuditEntry.id < before_id)
    return list(session.scalars(stmt))


# ---- the chain ---------------------------------------------------------------------------

def _ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(entry: AuditEntry, seq: int, prev_hash: str) -> bytes:
    body = {
        "seq": seq,
        "prev": prev_hash,
        "id": entry.id,
        "at": _ts(entry.occurred_at),
        "actor": [entry.actor_type, entry.actor_id, entry.actor_label, entry.department_id],
        "action": entry.action,
        "object": [entry.object_type, entry.object_id],
        "outcome": entry.outcome,
        "request": entry.request_id,
        "ip": entry.ip,
        "details": entry.details,
    }
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def entry_hash(entry: AuditEntry, seq: int, prev_hash: str) -> str:
    return hashlib.sha256(canonical(entry, seq, prev_hash)).hexdigest()


def _head(session: Session) -> tuple[int, str]:
    row = session.execute(
        select(AuditEntry.seq, AuditEntry.entry_hash).where(AuditEntry.seq.is_not(None))
        .order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    return (0, GENESIS) if row is None else (int(row[0]), str(row[1]))


@dataclass(frozen=True, slots=True)
class SealPlan:
    """Pending entries chained onto the head the plan was made from (see :func:`plan_seal`)."""

    head: tuple[int, str]
    updates: list[dict[str, Any]]


def plan_seal(session: Session, *, limit: int = 2000) -> SealPlan | None:
    """Read only: up to ``limit`` pending entries in id order, with the sequence numbers and hashes
    that chain them onto the current head; None when nothing is pending. Made outside the sealer
    lock, so that the lock (and on SQLite the database's write lock) is held only to write."""
    table = AuditEntry.__table__
    rows = session.execute(select(table).where(table.c.seq.is_(None)).order_by(table.c.id).limit(limit)).all()
    if not rows:
        return None
    head = _head(session)
    seq, prev = head
    now = utcnow()
    updates = []
    for row in rows:  # a Core row reads like the entry (same attribute names and types)
        seq += 1
        h = entry_hash(row, seq, prev)  # type: ignore[arg-type]
        updates.append({"_id": row.id, "seq": seq, "prev_hash": prev, "entry_hash": h, "sealed_at": now})
        prev = h
    return SealPlan(head, updates)


def apply_seal(session: Session, plan: SealPlan) -> int:
    """Write a plan under the sealer lock (a write to ``audit_seal_lock``: concurrent sealers queue
    on both engines) if the head is still the one it was made from, i.e. nobody sealed since; else
    write nothing and return 0 (plan again)."""
    session.execute(text("UPDATE audit_seal_lock SET sealed_runs = sealed_runs + 1 WHERE id = 1"))
    if _head(session) != plan.head:
        return 0
    table = AuditEntry.__table__
    session.connection().execute(
        update(table).where(table.c.id == _bindparam("_id"))
        .values(seq=_bindparam("seq"), prev_hash=_bindparam("prev_hash"), entry_hash=_bindparam("entry_hash"),
                sealed_at=_bindparam("sealed_at")),
        plan.updates,
    )
    return len(plan.updates)


def seal_pending(session: Session, *, batch_size: int = 2000, max_batches: int | None = None) -> int:
    """Seal committed, unsealed entries in id order, in the caller's transaction. Returns how many
    were sealed. Takes nothing when nothing is pending; once the first batch holds the lock, the
    head cannot move under the next ones."""
    total = batches = 0
    while max_batches is None or batches < max_batches:
        plan = plan_seal(session, limit=batch_size)
        if plan is None:
            break
        sealed = apply_seal(session, plan)
        if sealed:  # 0: another sealer moved the head before we held the lock; plan again, locked now
            total += sealed
            batches += 1
    return total


def _bindparam(name: str) -> Any:
    from sqlalchemy import bindparam

    return bindparam(name)


def pending_count(session: Session) -> int:
    """Entries not sealed yet."""
    return int(session.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq.is_(None))) or 0)


# ---- checkpoints ------------------------------------------------------------------------

def _checkpoint_message(seq: int, head_hash: str, created_at: str) -> bytes:
    return f"xinyong-audit-checkpoint/1|{seq}|{head_hash}|{created_at}".encode()


def write_checkpoint(session: Session, *, ring: KeyRing, directory: Path | None) -> dict[str, Any]:
    """Sign the current head; store it in the database and, if given, as a file in ``directory``."""
    seq, head = _head(session)
    created = _ts(utcnow()) or ""
    signature = base64.b64encode(ring.audit_signing_key.sign(_checkpoint_message(seq, head, created))).decode()
    doc = {
        "format": "xinyong-audit-checkpoint/1",
        "seq": seq,
        "head_hash": head,
        "created_at": created,
        "public_key": ring.audit_public_key_b64(),
        "signature": signature,
    }
    session.add(AuditCheckpoint(seq=seq, head_hash=head, signature=signature, public_key=doc["public_key"],
                                created_at=datetime.strptime(created, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)))
    if directory is not None:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"checkpoint-{seq:012d}.json"
        earlier = _checkpoint_head(path)
        if earlier is not None and earlier != head:
            # The chain was rewritten back to this seq (a tail cut off and grown again): the earlier
            # file is the evidence, and an rsync to the off-host copy would overwrite it too.
            doc["conflict"] = str(path)
            path = directory / f"checkpoint-{seq:012d}-{head[:16]}.json"
        if earlier != head:
            path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
        doc["path"] = str(path)  # the same head as the file there: it is kept as it was signed
    return doc


def _checkpoint_head(path: Path) -> str | None:
    """The head hash an existing checkpoint file names (``""`` if it cannot be read), or ``None``."""
    if not path.exists():
        return None
    try:
        return str(json.loads(path.read_text(encoding="utf-8"))["head_hash"])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


@dataclass(frozen=True, slots=True)
class ChainStatus:
    """What a page can tell of the chain without walking it (:func:`chain_status`)."""

    head_seq: int
    head_at: datetime | None  # when the head entry was sealed
    pending: int
    checkpoint_seq: int | None = None  # the newest checkpoint recorded in the database
    checkpoint_at: datetime | None = None
    checkpoint_signed: bool | None = None  # its signature holds, by this platform's key
    checkpoint_matches: bool | None = None  # the entry at its seq still has the hash it signed


def chain_status(session: Session, *, ring: KeyRing | None = None) -> ChainStatus:
    """The chain's head, how many entries wait to be sealed, and the newest checkpoint row: whether its
    signature holds (with ``ring``) and whether the entry now at its seq still carries the signed head
    hash. A few indexed reads, never a walk: it says nothing of the entries between checkpoints, nor of
    a tail cut together with its checkpoint rows — :func:`verify` against checkpoint files kept off
    the host (``xinyong audit verify``) does."""
    head = session.execute(
        select(AuditEntry.seq, AuditEntry.sealed_at).where(AuditEntry.seq.is_not(None))
        .order_by(AuditEntry.seq.desc()).limit(1)
    ).first()
    status = ChainStatus(head_seq=int(head[0]) if head else 0, head_at=head[1] if head else None,
                         pending=pending_count(session))
    cp = session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.id.desc()).limit(1))
    if cp is None:
        return status
    signed: bool | None = None
    if ring is not None:
        created = _ts(cp.created_at) or ""
        try:
            if cp.public_key != ring.audit_public_key_b64():
                raise InvalidSignature
            Ed25519PublicKey.from_public_bytes(base64.b64decode(cp.public_key)).verify(
                base64.b64decode(cp.signature), _checkpoint_message(int(cp.seq), cp.head_hash, created))
            signed = True
        except (InvalidSignature, ValueError):
            signed = False
    if cp.seq == 0:
        matches = cp.head_hash == GENESIS
    else:
        at_seq = session.scalar(select(AuditEntry.entry_hash).where(AuditEntry.seq == cp.seq))
        matches = at_seq is not None and at_seq == cp.head_hash
    return ChainStatus(head_seq=status.head_seq, head_at=status.head_at, pending=status.pending,
                       checkpoint_seq=int(cp.seq), checkpoint_at=cp.created_at, checkpoint_signed=signed,
                       checkpoint_matches=matches)


class CheckpointError(ValueError):
    pass


def load_checkpoint(path: Path, *, ring: KeyRing | None = None) -> dict[str, Any]:
    """Read and check a checkpoint file's signature (against the key file's key when given)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        seq, head, created = int(doc["seq"]), str(doc["head_hash"]), str(doc["created_at"])
        public_b64, sig_b64 = str(doc["public_key"]), str(doc["signature"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"检查点文件无法读取 / unreadable checkpoint {path}: {exc}") from exc
    if ring is not None and public_b64 != ring.audit_public_key_b64():
        raise CheckpointError("检查点不是由本平台的密钥签署 / checkpoint was not signed by this platform's key")
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(public_b64)).verify(
            base64.b64decode(sig_b64), _checkpoint_message(seq, head, created)
        )
    except (InvalidSignature, ValueError) as exc:
        raise CheckpointError("检查点签名无效 / checkpoint signature is invalid") from exc
    return doc


def checkpoint_files(directory: Path) -> list[Path]:
    """The checkpoint files in ``directory``, oldest (lowest seq) first."""
    return sorted(directory.glob("checkpoint-*.json")) if directory.exists() else []


def latest_checkpoint_file(directory: Path) -> Path | None:
    files = checkpoint_files(directory)
    return files[-1] if files else None


# ---- verification -----------------------------------------------------------------------

@dataclass
class VerifyResult:
    ok: bool
    checked: int = 0
    head_seq: int = 0
    head_hash: str = GENESIS
    pending: int = 0
    problem: str | None = None  # altered | removed | inserted | reordered | truncated | broken
    seq: int | None = None
    entry_id: int | None = None
    message: str = ""
    notes: list[str] = field(default_factory=list)


def _original_seq(entry: AuditEntry, seq: int, window: int = 1000) -> int | None:
    """If an untouched entry was moved to another seq, find the seq its own hash was sealed at."""
    for delta in range(1, window + 1):
        for cand in (seq - delta, seq + delta):
            if cand > 0 and entry_hash(entry, cand, entry.prev_hash or "") == entry.entry_hash:
                return cand
    return None


def _belongs_here(session: Session, seq_now: int, seq_sealed: int, prev_hash: str) -> bool:
    """Whether the entry now at ``seq_now`` is intact and was sealed at ``seq_sealed`` after ``prev_hash``."""
    nxt = session.scalar(select(AuditEntry).where(AuditEntry.seq == seq_now))
    return (nxt is not None and nxt.prev_hash == prev_hash
            and entry_hash(nxt, seq_sealed, prev_hash) == nxt.entry_hash)


def verify(session: Session, *, checkpoint: Mapping[str, Any] | None = None,
           checkpoints: Iterable[Mapping[str, Any]] = (), chunk: int = 5000) -> VerifyResult:
    """Walk the chain; with signed checkpoints (``checkpoint`` and/or ``checkpoints``), also check the
    chain's hash at each one's seq and that none covers more than the chain holds. Every checkpoint
    counts, not only the newest: a tail cut off and then grown again by new entries (sealed onto the
    shortened chain, under a newer checkpoint) differs from the older checkpoints at their seq."""
    result = VerifyResult(ok=True)
    marks: dict[int, set[str]] = {}  # seq -> the head hashes signed at that seq
    for doc in ([checkpoint] if checkpoint is not None else []) + list(checkpoints):
        marks.setdefault(int(doc["seq"]), set()).add(str(doc["head_hash"]))
    expected_seq = 1
    prev = GENESIS
    hash_to_seq: dict[str, int] = {GENESIS: 0}
    last_id_seen: int | None = None

    def fail(problem: str, seq: int | None, entry_id: int | None, message: str) -> VerifyResult:
        result.ok = False
        result.problem, result.seq, result.entry_id, result.message = problem, seq, entry_id, message
        return result

    after = 0
    while True:
        rows = session.scalars(
            select(AuditEntry).where(AuditEntry.seq.is_not(None), AuditEntry.seq > after)
            .order_by(AuditEntry.seq).limit(chunk)
        ).all()
        if not rows:
            break
        for e in rows:
            s = int(e.seq or 0)
            recomputed = entry_hash(e, s, e.prev_hash or "")
            if recomputed != e.entry_hash:
                home = _original_seq(e, s)
                if home is not None:
                    if home < s and hash_to_seq.get(e.prev_hash or "") == home - 1:
                        # An untouched entry pushed down, still chained to the entry before its old
                        # place: the rows now at seq home .. s-1 were slipped in.
                        return fail("inserted", home, None,
                                    f"第 {home} 条审计记录是插入的 / entry seq {home} was inserted "
                                    f"(entry id {e.id}, sealed at seq {home}, now sits at seq {s})")
                    return fail("reordered", s, e.id,
                                f"第 {s} 条审计记录被移动（原为第 {home} 条） / entry id {e.id} was moved from seq {home} to seq {s}: reordered")
                if _belongs_here(session, s + 1, s, prev):
                    # The next row is untouched and was sealed at this very place: this row was added.
                    return fail("inserted", s, e.id,
                                f"第 {s} 条审计记录是插入的 / entry seq {s} (id {e.id}) was inserted")
                return fail("altered", s, e.id, f"第 {s} 条审计记录（id {e.id}）内容被修改 / entry seq {s} (id {e.id}) was altered")
            if s != expected_seq:
                if s > expected_seq and e.prev_hash == prev:
                    return fail("inserted", s, e.id,
                                f"第 {expected_seq} 条之前的审计记录被删除或重新编号 / sequence jumps from {expected_seq - 1} to {s}")
                return fail("removed", expected_seq, e.id,
                            f"第 {expected_seq} 条审计记录缺失 / entry seq {expected_seq} was removed (next present is seq {s})")
            if e.prev_hash != prev:
                if e.prev_hash in hash_to_seq and hash_to_seq[e.prev_hash] < s - 1:
                    return fail("inserted", s - 1, None,
                                f"第 {s - 1} 条审计记录是插入的 / entry seq {s - 1} was inserted (seq {s} follows seq {hash_to_seq[e.prev_hash]})")
                return fail("reordered", s, e.id,
                            f"第 {s} 条审计记录的位置被改变或其前一条被替换 / entry seq {s} (id {e.id}) does not follow seq {s - 1}: reordered or replaced")
            if last_id_seen is not None and e.id is not None and e.id < last_id_seen:
                result.notes.append(f"seq {s}: sealed after a later id (late commit), which is normal")
            last_id_seen = e.id
            hash_to_seq[e.entry_hash or ""] = s
            prev = e.entry_hash or ""
            if s in marks and marks[s] != {prev}:
                return fail("broken", s, e.id,
                            f"第 {s} 条与检查点不一致 / chain differs from the signed checkpoint at seq {s}")
            expected_seq += 1
            result.checked += 1
            after = s
    result.head_seq, result.head_hash = expected_seq - 1, prev
    covered = max(marks, default=0)
    if covered > result.head_seq:
        return fail("truncated", result.head_seq + 1, None,
                    f"审计链在第 {result.head_seq} 条结束，但签名检查点记录到第 {covered} 条 / "
                    f"chain ends at seq {result.head_seq} but the signed checkpoint covers seq {covered}: "
                    f"the tail was truncated")
    result.pending = pending_count(session)
    result.message = f"审计链完整 / audit chain intact: {result.checked} entries, head seq {result.head_seq}"
    return result
