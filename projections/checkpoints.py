"""Signed, chained checkpoints of the event log, and the check of the stored events against them.

Each checkpoint covers the events after the previous one, in notification order: it keeps the
SHA-256 of each event's stored bytes (notification id, originator id and version, topic, state)
and a digest over those hashes chained to the previous checkpoint's digest, signed with the
workspace's Ed25519 key. The rows never change and a rebuild of the views never drops them.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from projections.runtime import BATCH, EventLog, read_notifications

HASH_SIZE = 32
GENESIS = bytes(HASH_SIZE)
# Signatures over checkpoints and over exported heads are told apart by what they sign.
CHECKPOINT_CONTEXT = b"conveyor checkpoint v1\x00"

checkpoint_metadata = sa.MetaData()

# Not a view: its own metadata, so that nothing that drops or rebuilds the views touches it.
checkpoints_table = sa.Table(
    "audit_checkpoints",
    checkpoint_metadata,
    sa.Column(
        "sequence",
        sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
        primary_key=True,
        autoincrement=False,
    ),
    sa.Column("after_id", sa.BigInteger, nullable=False),
    sa.Column("through_id", sa.BigInteger, nullable=False),
    sa.Column("events", sa.Integer, nullable=False),
    sa.Column("hashes", sa.LargeBinary, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.String(128), nullable=False),
)


class Signs(Protocol):
    """The workspace key's private half (engine/signing.py)."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class Checks(Protocol):
    """A public key (engine/signing.py)."""

    @property
    def key_id(self) -> str: ...

    def verify(self, signature: bytes, message: bytes) -> bool: ...


def create_checkpoint_table(engine: Engine) -> None:
    """Made by the store's set-up (idempotent)."""
    checkpoint_metadata.create_all(engine)


def event_hash(notification: Any) -> bytes:
    """SHA-256 of an event as stored: every field but the state is free of newlines."""
    head = (
        f"{notification.id}\n{notification.originator_id}\n"
        f"{notification.originator_version}\n{notification.topic}\n"
    )
    return hashlib.sha256(head.encode() + _bytes(notification.state)).digest()


def _bytes(state: Any) -> bytes:
    """The state as stored; a value an SQL edit left as another type hashes as its text."""
    if isinstance(state, bytes | bytearray | memoryview):
        return bytes(state)
    return str(state).encode("utf-8", "surrogatepass")


def checkpoint_digest(
    previous: bytes, sequence: int, after: int, through: int, events: int, hashes: bytes
) -> bytes:
    header = struct.pack(">QQQQ", sequence, after, through, events)
    return hashlib.sha256(previous + header + hashes).digest()


def event_type(topic: str) -> str:
    return topic.rsplit(".", 1)[-1].rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Latest:
    """The newest checkpoint: what an export's signed head names."""

    sequence: int
    through: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "through": self.through, "digest": self.digest}


def latest_checkpoint(conn: Connection) -> Latest | None:
    t = checkpoints_table
    row = conn.execute(
        sa.select(t.c.sequence, t.c.through_id, t.c.digest).order_by(t.c.sequence.desc()).limit(1)
    ).first()
    return Latest(int(row.sequence), int(row.through_id), row.digest) if row else None


class Checkpointer:
    """Writes a checkpoint over the events no checkpoint covers yet (up to a batch per row)."""

    def __init__(
        self, log: EventLog, engine: Engine, signer: Callable[[], Signs], *, batch: int = BATCH
    ) -> None:
        self.log = log
        self.engine = engine
        self.signer = signer
        self.batch = batch

    def advance(self) -> int:
        """Checkpoint every event after the newest checkpoint; the count of events covered.

        Two processes may race: the second to insert the same sequence loses on the primary
        key and stops, the other's checkpoint standing.
        """
        with self.engine.connect() as conn:
            latest = latest_checkpoint(conn)
            conn.rollback()
            if latest is None:
                sequence, through, previous = 0, 0, GENESIS
            else:
                sequence, through = latest.sequence, latest.through
                previous = bytes.fromhex(latest.digest)
            signer: Signs | None = None
            covered = 0
            while True:
                notifications = read_notifications(self.log.recorder, through, self.batch, None)
                if not notifications:
                    break
                signer = signer or self.signer()
                sequence += 1
                row = _checkpoint_row(signer, previous, sequence, through, notifications)
                try:
                    with conn.begin():
                        conn.execute(checkpoints_table.insert(), row)
                except sa.exc.IntegrityError:
                    break
                through, previous = row["through_id"], bytes.fromhex(row["digest"])
                covered += len(notifications)
                if len(notifications) < self.batch:
                    break
        return covered


def _checkpoint_row(
    signer: Signs, previous: bytes, sequence: int, after: int, notifications: Sequence[Any]
) -> dict[str, Any]:
    hashes = b"".join(event_hash(n) for n in notifications)
    through = int(notifications[-1].id)
    digest = checkpoint_digest(previous, sequence, after, through, len(notifications), hashes)
    return {
        "sequence": sequence,
        "after_id": after,
        "through_id": through,
        "events": len(notifications),
        "hashes": hashes,
        "digest": digest.hex(),
        "key_id": signer.key_id,
        "signature": signer.sign(CHECKPOINT_CONTEXT + digest).hex(),
    }


# ----- verifying the store ------------------------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """The first stored event that no longer matches its checkpoint (None: it is missing)."""

    checkpoint: int
    problem: str
    notification_id: int | None = None
    originator_id: str | None = None
    originator_version: int | None = None
    event_type: str | None = None

    def describe(self) -> str:
        if self.notification_id is None:
            return self.problem
        return (
            f"event {self.event_type} #{self.notification_id} (originator {self.originator_id}, "
            f"version {self.originator_version}) {self.problem}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint,
            "problem": self.problem,
            "notificationId": self.notification_id,
            "originatorId": self.originator_id,
            "originatorVersion": self.originator_version,
            "eventType": self.event_type,
        }


@dataclass(frozen=True)
class StoreVerification:
    ok: bool
    checkpoints: int
    events: int
    through: int
    uncovered: int
    problem: str | None = None
    mismatch: Mismatch | None = None
    latest: Latest | None = None

    def describe(self) -> str:
        if self.mismatch is not None:
            return self.mismatch.describe()
        return self.problem or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checkpoints": self.checkpoints,
            "events": self.events,
            "through": self.through,
            "uncovered": self.uncovered,
            "problem": self.describe() or None,
            "firstMismatch": self.mismatch.to_dict() if self.mismatch else None,
            "latest": self.latest.to_dict() if self.latest else None,
        }


def _mismatch(checkpoint: int, notification: Any, problem: str) -> Mismatch:
    return Mismatch(
        checkpoint,
        problem,
        int(notification.id),
        str(notification.originator_id),
        int(notification.originator_version),
        event_type(notification.topic),
    )


def compare_events(row: Any, notifications: Sequence[Any]) -> Mismatch | None:
    """The first of a checkpoint's events whose stored bytes no longer hash as signed."""
    expected = [row.hashes[i : i + HASH_SIZE] for i in range(0, len(row.hashes), HASH_SIZE)]
    k = row.sequence
    for index, notification in enumerate(notifications):
        actual = event_hash(notification)
        if index >= len(expected):
            return _mismatch(k, notification, f"was added to the range checkpoint {k} covers")
        if actual == expected[index]:
            continue
        if actual in expected[index + 1 :]:
            gone = expected.index(actual, index + 1) - index
            return _mismatch(
                k, notification, f"comes after {gone} deleted event(s) checkpoint {k} covers"
            )
        return _mismatch(k, notification, f"no longer matches checkpoint {k}: it was edited")
    if len(notifications) < len(expected):
        missing = len(expected) - len(notifications)
        return Mismatch(
            k,
            f"the last {missing} event(s) checkpoint {k} covers (up to #{row.through_id}) "
            "were deleted",
        )
    return None


def _check_row(row: Any, previous: bytes, expected_sequence: int, after: int, key: Checks) -> str:
    """Why a checkpoint row cannot be trusted, or '' if it can."""
    k = row.sequence
    if k != expected_sequence:
        return f"checkpoint {expected_sequence} is missing (the next one is {k})"
    if row.after_id != after:
        return f"checkpoint {k} does not start where checkpoint {k - 1} ended (#{after})"
    if len(row.hashes) != row.events * HASH_SIZE:
        return f"checkpoint {k} was altered: it holds the wrong number of hashes"
    digest = checkpoint_digest(previous, k, row.after_id, row.through_id, row.events, row.hashes)
    if digest.hex() != row.digest:
        return f"checkpoint {k} was altered: its digest does not match its contents"
    if row.key_id != key.key_id:
        return (
            f"checkpoint {k} was signed by another key ({row.key_id[:16]}), "
            f"not this workspace's ({key.key_id[:16]})"
        )
    try:
        signature = bytes.fromhex(row.signature)
    except ValueError:
        signature = b""
    if not key.verify(signature, CHECKPOINT_CONTEXT + digest):
        return f"checkpoint {k} was altered: its signature is not valid"
    return ""


def _rows(conn: Connection) -> Iterator[Any]:
    t = checkpoints_table
    yield from conn.execute(sa.select(t).order_by(t.c.sequence))


def _count_after(log: EventLog, position: int) -> int:
    count = 0
    while True:
        notifications = read_notifications(log.recorder, position, BATCH, None)
        if not notifications:
            return count
        count += len(notifications)
        position = int(notifications[-1].id)


def verify_store(log: EventLog, engine: Engine, key: Checks | None) -> StoreVerification:
    """Re-hash the stored events, check them and the checkpoints' chain and signatures.

    It writes nothing: checkpointing first would sign whatever the store holds now.
    """
    previous, through, sequence, events = GENESIS, 0, 0, 0
    latest: Latest | None = None

    def failed(problem: str = "", mismatch: Mismatch | None = None) -> StoreVerification:
        return StoreVerification(
            False, sequence, events, through, 0, problem or None, mismatch, latest
        )

    with engine.connect() as conn:
        for row in _rows(conn):
            if key is None:
                return failed(
                    "the store has signed checkpoints but the workspace has no signing key "
                    "(keys/signing.key) to check them with"
                )
            problem = _check_row(row, previous, sequence + 1, through, key)
            if problem:
                return failed(problem)
            notifications = read_notifications(
                log.recorder, row.after_id, row.events + 1, row.through_id
            )
            mismatch = compare_events(row, notifications)
            if mismatch is not None:
                return failed(mismatch=mismatch)
            sequence, through, previous = row.sequence, row.through_id, bytes.fromhex(row.digest)
            events += row.events
            latest = Latest(sequence, through, row.digest)
    uncovered = _count_after(log, through)
    return StoreVerification(True, sequence, events, through, uncovered, latest=latest)


def witnessed(engine: Engine, checked: StoreVerification, named: Any) -> StoreVerification:
    """The store still holds the checkpoint an export's signed head names, unchanged.

    An export kept elsewhere witnesses the checkpoints as they were: deleting the newest
    checkpoints (so that edited events get checkpointed again) shows here.
    """
    if not isinstance(named, dict) or not isinstance(named.get("sequence"), int):
        return checked
    t = checkpoints_table
    with engine.connect() as conn:
        row = conn.execute(sa.select(t.c.digest).where(t.c.sequence == named["sequence"])).first()
    if row is not None and row.digest == named.get("digest"):
        return checked
    return replace(
        checked,
        ok=False,
        problem=(
            f"checkpoint {named['sequence']}, which the export's signed head names, is gone "
            "from the store or was rewritten since the export"
        ),
    )
