"""The projection runtime: pull-based catch-up of SQL views, rows and position in one commit."""

from __future__ import annotations

import gc
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, cast
from uuid import UUID

import orjson
import sqlalchemy as sa
from eventsourcing.persistence import JSONTranscoder, Mapper, find_id_convertor
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import resolve_topic
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateTable

from domain.execution import PipelineExecution
from domain.pipeline import Pipeline

BATCH = 10_000
# A rebuild from zero is an admin command nobody waits behind: bigger batches, fewer commits.
BULK_BATCH = 50_000
# How many aggregates a catch-up keeps in memory; a miss reloads from the event store. Never
# fewer than a batch: every aggregate a batch touches stays cached until the views have read it.
REPLICA_SIZE = 20_000

metadata = sa.MetaData()

positions = sa.Table(
    "view_positions",
    metadata,
    sa.Column("view", sa.String(64), primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
)


class EventLog(Protocol):
    """What the runtime needs from an eventsourcing Application (duck-typed: no engine import)."""

    @property
    def recorder(self) -> Any: ...

    @property
    def mapper(self) -> Any: ...

    @property
    def repository(self) -> Any: ...


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)


def micros(value: datetime) -> int:
    """Exact instants for SQL comparisons: whole microseconds since the epoch (UTC)."""
    return (value - EPOCH) // ONE_MICROSECOND


class Positioned(NamedTuple):
    """A domain event with its notification id in the application log, folded.

    The runtime folds every event of a batch once before the views read it, so `aggregate` is
    the aggregate the event belongs to as it stands at the end of the batch.
    """

    position: int
    event: Any
    aggregate: Any
    # str(aggregate id), the event's class (what views dispatch on), its timestamp in micros().
    key: str
    kind: type
    at_us: int


# ----- JSON for the views' text columns -----------------------------------------------------
# orjson writes the same JSON values as the standard library (compact, UTF-8 rather than
# \u escapes); anything orjson refuses (a non-str dict key, an int beyond 64 bits) falls back
# to the standard library, so what a reader parses back never depends on the encoder.

_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any) -> str:
    """JSON text of plain JSON values (dict, list, str, int, float, bool, None)."""
    try:
        return orjson.dumps(value).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value)


def dumps_sorted(value: Any) -> str:
    """JSON text with sorted keys; values JSON lacks (UUID, datetime, Decimal) become str()."""
    try:
        return orjson.dumps(value, default=str, option=_SORTED).decode()
    except orjson.JSONEncodeError:
        return json.dumps(value, default=str, sort_keys=True)


# ----- mapping notifications to domain events -----------------------------------------------


class _Decoding(NamedTuple):
    """What the mapper works out per topic: the class, its version, its id convertor."""

    cls: type
    class_version: int
    convert_id: Any


class FastMapper:
    """Maps notifications to domain events exactly as eventsourcing's Mapper does, faster.

    The Mapper resolves the topic, finds the id convertor and decodes the JSON through an
    `object_hook` (a Python call per JSON object) for every event: half of a rebuild's read.
    Here the topic's class, class version and id convertor are worked out once per topic, the
    JSON is parsed by orjson and the transcoder's `{"_type_", "_data_"}` objects are revived
    bottom-up by the transcoder's own transcodings, and upcasters run as the Mapper runs them.
    Anything unusual (a cipher, a compressor, another transcoder, JSON orjson refuses, an
    unregistered type) goes to the Mapper itself, so errors and results are the Mapper's.
    """

    def __init__(self, mapper: Any) -> None:
        self._mapper = mapper
        self._topics: dict[str, _Decoding] = {}
        transcoder = getattr(mapper, "transcoder", None)
        self._names: dict[str, Any] | None = None
        if (
            type(mapper) is Mapper
            and type(transcoder) is JSONTranscoder
            and not mapper.cipher
            and not mapper.compressor
        ):
            self._names = transcoder.names

    def __call__(self, notification: Any) -> Any:
        if self._names is None:
            return self._mapper.to_domain_event(notification)
        try:
            return self._decode(notification)
        except Exception:
            return self._mapper.to_domain_event(notification)

    def _decoding(self, notification: Any) -> _Decoding:
        key = notification.topic
        found = self._topics.get(key)
        if found is None:
            cls = resolve_topic(key)
            found = self._topics[key] = _Decoding(
                cls,
                getattr(cls, "class_version", 1),
                find_id_convertor(cls, cast(Hashable, type(notification.originator_id))),
            )
        return found

    def _decode(self, notification: Any) -> Any:
        cls, class_version, convert_id = self._decoding(notification)
        state = self._state(notification.state)
        state["originator_id"] = convert_id(notification.originator_id)
        state["originator_version"] = notification.originator_version
        from_version = state.pop("class_version", 1)
        while from_version < class_version:
            getattr(cls, f"upcast_v{from_version}_v{from_version + 1}")(state)
            from_version += 1
        event: Any = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def _state(self, raw: bytes) -> dict[str, Any]:
        """The event's state; typed values at the top level (the timestamp) without a walk."""
        names: Any = self._names
        state: dict[str, Any] = orjson.loads(raw)
        # Every typed object has a key "_type_"; the encoder never escapes it as \u005f, and
        # with no \u escape at all the count of that key's text bounds the typed objects.
        typed = raw.count(b'"_type_"')
        if not typed:
            return state
        if b"\\u" not in raw:
            # Every event has a timestamp, and for most it is the only typed value.
            value: Any = state.get("timestamp")
            if _is_typed(value):
                state["timestamp"] = names[value["_type_"]].decode(value["_data_"])
                typed -= 1
                if not typed:
                    return state
            for key, value in state.items():
                if _is_typed(value):
                    state[key] = names[value["_type_"]].decode(value["_data_"])
                    typed -= 1
            if not typed:
                return state
            state = orjson.loads(raw)
        revived: dict[str, Any] = _revive(state, names)
        return revived


def _is_typed(value: Any) -> bool:
    """A transcoded value whose data is a string (the data holds no typed value itself)."""
    return (
        type(value) is dict
        and len(value) == 2
        and type(value.get("_data_")) is str
        and "_type_" in value
    )


class Row(NamedTuple):
    """A notification as the log's SQLite table holds it (what the mappers read of one)."""

    id: int
    originator_id: Any
    originator_version: int
    topic: str
    state: bytes


def read_notifications(
    recorder: Any, after: int, limit: int, stop: int | None, ids: dict[str, UUID] | None = None
) -> Sequence[Any]:
    """Up to `limit` notifications strictly after `after` (up to `stop`), in log order.

    On eventsourcing's SQLite recorder the rows are read with one query straight into tuples:
    `select_notifications` builds a frozen dataclass per row, a fifth of reading the log. An
    aggregate's events share one UUID object through `ids` (UUIDs are immutable): parsing
    it once, and dict lookups by it that stop at identity.
    """
    if type(recorder) is not SQLiteApplicationRecorder:
        # PostgreSQL ids have gaps: always read strictly after the last id seen.
        found: Sequence[Any] = recorder.select_notifications(
            start=after, limit=limit, stop=stop, inclusive_of_start=False
        )
        return found
    sql = (
        "SELECT rowid, originator_id, originator_version, topic, state "
        f"FROM {recorder.events_table_name} WHERE rowid>?"
    )
    params: tuple[int, ...] = (after, limit)
    if stop is not None:
        sql += " AND rowid<=?"
        params = (after, stop, limit)
    sql += " ORDER BY rowid LIMIT ?"
    as_uuid = recorder.datastore.originator_id_type == "uuid"
    with recorder.datastore.transaction(commit=False) as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not as_uuid:
        return [Row(*row) for row in rows]
    if ids is None:
        ids = {}
    elif len(ids) > REPLICA_SIZE * 5:
        ids.clear()
    found_rows = []
    for row in rows:
        text = row[1]
        uuid = ids.get(text)
        if uuid is None:
            uuid = ids[text] = UUID(text)
        found_rows.append(Row(row[0], uuid, row[2], row[3], row[4]))
    return found_rows


def _revive(value: Any, names: Any) -> Any:
    """JSON values with each `{"_type_": name, "_data_": data}` object decoded, innermost first.

    The same objects, in the same order, as the JSONTranscoder's `object_hook` decodes.
    """
    if type(value) is dict:
        for key, item in value.items():
            kind = type(item)
            if kind is dict or kind is list:
                value[key] = _revive(item, names)
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return names[value["_type_"]].decode(value["_data_"])
        return value
    if type(value) is list:
        for index, item in enumerate(value):
            kind = type(item)
            if kind is dict or kind is list:
                value[index] = _revive(item, names)
    return value


class Replica:
    """Aggregates folded from the events a catch-up has read, kept at exactly that point.

    The runtime folds each event once as it reads it (`Positioned.aggregate`); views ask it for
    other aggregates (a pipeline's executions), as they stand at the end of the batch. A miss
    replays the aggregate from the event store up to the version the log has reached, so the
    result is the same whether the view is rebuilt from 0 or caught up a few events at a time.
    """

    def __init__(self, log: EventLog, size: int = REPLICA_SIZE) -> None:
        self._log = log
        self._size = size
        # aggregate id -> [aggregate, str(aggregate id)], least recently used first
        self._cache: OrderedDict[UUID, list[Any]] = OrderedDict()

    def fold(self, event: Any) -> Any:
        """Apply the event to its aggregate (once: an event already folded changes nothing)."""
        return self.fold_keyed(event)[0]

    def fold_keyed(self, event: Any) -> list[Any]:
        """[aggregate, str(aggregate id)] after folding the event."""
        aggregate_id = event.originator_id
        version = event.originator_version
        cache = self._cache
        entry = cache.get(aggregate_id)
        if entry is not None:
            cache.move_to_end(aggregate_id)
            current = entry[0].version
            if current >= version:
                return entry
            if current == version - 1:
                entry[0] = event.mutate(entry[0])
                return entry
        aggregate = None
        if version > 1:
            aggregate = self._log.repository.get(aggregate_id, version=version - 1)
        entry = [event.mutate(aggregate), str(aggregate_id)]
        self._put(aggregate_id, entry)
        return entry

    def _put(self, aggregate_id: UUID, entry: list[Any]) -> None:
        self._cache[aggregate_id] = entry
        if len(self._cache) > self._size:
            self._cache.popitem(last=False)

    def get(self, aggregate_id: str | UUID) -> Any:
        """The aggregate as this catch-up last saw it, else as the store has it now."""
        key = aggregate_id if isinstance(aggregate_id, UUID) else UUID(str(aggregate_id))
        found = self._cache.get(key)
        if found is None:
            found = [self._log.repository.get(key), str(key)]
            self._put(key, found)
        return found[0]

    def pipeline(self, aggregate_id: str | UUID) -> Pipeline:
        found: Pipeline = self.get(aggregate_id)
        return found

    def execution(self, aggregate_id: str | UUID) -> PipelineExecution:
        found: PipelineExecution = self.get(aggregate_id)
        return found


class View(Protocol):
    """A read model: its tables, and how a batch of events changes their rows."""

    @property
    def name(self) -> str: ...

    @property
    def tables(self) -> Sequence[sa.Table]: ...

    def fold(self, conn: Connection, batch: Sequence[Positioned], replica: Replica) -> None:
        """Apply a batch (already folded into the replica): compute in memory, write once."""


@dataclass
class ViewStatus:
    view: str
    position: int
    head: int

    @property
    def behind(self) -> int:
        return max(0, self.head - self.position)

    def to_dict(self) -> dict[str, Any]:
        return {"view": self.view, "position": self.position, "head": self.head}


@dataclass
class CatchUp:
    """What one catch-up did: events applied per view and how long it took."""

    applied: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def events(self) -> int:
        return max(self.applied.values(), default=0)


def create_view_engine(url: str) -> Engine:
    """An engine for the views' database; in-memory SQLite shares one connection."""
    if url in ("sqlite://", "sqlite:///:memory:"):
        return sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    engine = sa.create_engine(url)
    if engine.dialect.name == "sqlite":
        # Readers never block the event store's writer, and a batch commit is one fsync.
        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            # A batch touches index pages all over the views' tables: keep them in memory
            # (64 MiB rather than SQLite's 2 MiB default) instead of re-reading them per row.
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.close()

    return engine


class Projections:
    """The views of one application, kept in SQL beside its events."""

    def __init__(
        self, log: EventLog, engine: Engine, views: Sequence[View], *, batch: int = BATCH
    ) -> None:
        self.log = log
        self.engine = engine
        self.views = {view.name: view for view in views}
        self.batch = batch
        self._ready = False
        # Steps run at the start of every catch-up: the log's signed checkpoints (bootstrap).
        self.before_catch_up: list[Callable[[], object]] = []

    # ----- schema ---------------------------------------------------------------------------

    def ensure_tables(self) -> None:
        if self._ready:
            return
        with self.engine.begin() as conn:
            positions.create(conn, checkfirst=True)
            existing = set(sa.inspect(conn).get_table_names())
            for view in self.views.values():
                for table in view.tables:
                    if table.name not in existing:
                        table.create(conn)
                        continue
                    # A table made by an older Conveyor gets the indexes added since.
                    for index in table.indexes:
                        index.create(conn, checkfirst=True)
        self._ready = True

    def tables_exist(self) -> None:
        """Take the tables as made (by a store's set-up): `ensure_tables` becomes a no-op."""
        self._ready = True

    def view(self, name: str) -> View:
        try:
            return self.views[name]
        except KeyError:
            from domain.errors import ValidationException

            raise ValidationException(
                f"view: no view named '{name}'; the views are " + ", ".join(self.views)
            ) from None

    # ----- positions ------------------------------------------------------------------------

    def head(self) -> int:
        return int(self.log.recorder.max_notification_id() or 0)

    def positions(self) -> dict[str, int]:
        self.ensure_tables()
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(positions.c.view, positions.c.position)).all()
        found = {row.view: int(row.position) for row in rows}
        return {name: found.get(name, 0) for name in self.views}

    def status(self) -> list[ViewStatus]:
        head = self.head()
        return [ViewStatus(name, position, head) for name, position in self.positions().items()]

    # ----- catching up ----------------------------------------------------------------------

    def catch_up(self, names: Iterable[str] | None = None, *, bulk: bool = False) -> CatchUp:
        """Apply every event each view has not seen yet, batch by batch.

        `bulk` (a rebuild from zero, nobody else writing) writes bigger batches.
        """
        started = time.perf_counter()
        for step in self.before_catch_up:
            step()
        wanted = list(names) if names is not None else list(self.views)
        for name in wanted:
            self.view(name)
        result = CatchUp(applied=dict.fromkeys(wanted, 0))
        at = {name: position for name, position in self.positions().items() if name in wanted}
        # Views at different positions (one just rebuilt) advance together once aligned, so the
        # log is read and the aggregates folded once per batch for all of them.
        while at:
            lowest = min(at.values())
            group = [name for name, position in at.items() if position == lowest]
            higher = [position for position in at.values() if position > lowest]
            stop = min(higher) if higher else None
            applied = self._advance(group, lowest, stop, bulk)
            for name in group:
                result.applied[name] += applied
            if stop is None:
                break
            for name in group:
                at[name] = stop
        result.seconds = time.perf_counter() - started
        return result

    def _advance(self, names: list[str], start: int, stop: int | None, bulk: bool) -> int:
        size = max(self.batch, BULK_BATCH) if bulk else self.batch
        replica = Replica(self.log, size=max(REPLICA_SIZE, size))
        views = [self.views[name] for name in names]
        applied = 0
        with _fewer_collections(), self.engine.connect() as conn, _bulk_session(conn, bulk):
            for batch, last in self._batches(replica, start, stop, size):
                with conn.begin():
                    for view in views:
                        view.fold(conn, batch, replica)
                    self._set_positions(conn, names, last)
                applied += len(batch)
        return applied

    def _batches(
        self, replica: Replica, start: int, stop: int | None, size: int
    ) -> Iterator[tuple[list[Positioned], int]]:
        """Batches of events after `start`, each folded into the replica once."""
        to_domain_event = FastMapper(self.log.mapper)
        fold = replica.fold_keyed
        ids: dict[str, UUID] = {}
        position = start
        while True:
            notifications = read_notifications(self.log.recorder, position, size, stop, ids)
            if not notifications:
                return
            batch = []
            for notification in notifications:
                event = to_domain_event(notification)
                aggregate, key = fold(event)
                batch.append(
                    Positioned(
                        notification.id,
                        event,
                        aggregate,
                        key,
                        type(event),
                        micros(event.timestamp),
                    )
                )
            position = notifications[-1].id
            yield batch, position
            if len(notifications) < size or (stop is not None and position >= stop):
                return

    def _set_positions(self, conn: Connection, names: list[str], position: int) -> None:
        updated = conn.execute(
            positions.update().where(positions.c.view.in_(names)).values(position=position)
        ).rowcount
        if updated != len(names):
            present = set(conn.execute(sa.select(positions.c.view)).scalars())
            missing = [{"view": n, "position": position} for n in names if n not in present]
            if missing:
                conn.execute(positions.insert(), missing)

    # ----- rebuilding -----------------------------------------------------------------------

    def drop(self, name: str, *, indexes: bool = True) -> None:
        """Drop the view's tables and position and create them empty (without their secondary
        indexes if `indexes` is false: a rebuild adds them after loading the rows)."""
        view = self.view(name)
        self.ensure_tables()
        with self.engine.begin() as conn:
            for table in reversed(list(view.tables)):
                table.drop(conn, checkfirst=True)
            conn.execute(positions.delete().where(positions.c.view == name))
            for table in view.tables:
                if indexes:
                    table.create(conn)
                else:
                    conn.execute(CreateTable(table))

    def rebuild(self, name: str | None = None) -> CatchUp:
        """Drop a view (or all) and replay the whole log into it.

        The rows go into tables without secondary indexes, which are built once at the end:
        sorting 200,000 keys once is cheaper than inserting them one by one into B-trees. A
        rebuild that crashes halfway leaves tables without some indexes; the next
        `ensure_tables()` (every process opening the views) adds them, and rebuilding again
        starts from zero anyway.
        """
        names = [name] if name else list(self.views)
        for each in names:
            self.drop(each, indexes=False)
        done = self.catch_up(names, bulk=True)
        started = time.perf_counter()
        with self.engine.connect() as conn, _bulk_session(conn, True):
            for each in names:
                for table in self.views[each].tables:
                    for index in table.indexes:
                        index.create(conn, checkfirst=True)
            conn.commit()
        done.seconds += time.perf_counter() - started
        return done


@contextmanager
def _bulk_session(conn: Connection, bulk: bool) -> Iterator[None]:
    """While rebuilding from zero on SQLite, sort in memory (index builds, on this connection).

    Not `synchronous=OFF`, though a rebuild cut short is simply started again: the views share
    the database file with the event log, and a power cut during a checkpoint without fsync can
    corrupt pages of either. It was worth ~5% of a rebuild (measured), not that risk.
    """
    sqlite = bulk and conn.dialect.name == "sqlite"
    if sqlite:
        conn.exec_driver_sql("PRAGMA temp_store=MEMORY")
        conn.commit()
    try:
        yield
    finally:
        if sqlite:
            conn.exec_driver_sql("PRAGMA temp_store=DEFAULT")
            conn.commit()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a catch-up runs.

    A rebuild allocates millions of short-lived objects beside a replica of tens of thousands of
    long-lived aggregates; the collector's full passes over the latter cost ~20% of a rebuild.
    Batches free their objects by reference counting; the collector resumes afterwards.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def rows_by(conn: Connection, table: sa.Table, column: str, keys: Iterable[Any]) -> list[Any]:
    """Rows whose column is one of the keys, fetched in chunks (SQLite caps bound parameters)."""
    keys = list(keys)
    found: list[Any] = []
    col = table.c[column]
    for index in range(0, len(keys), 500):
        chunk = keys[index : index + 500]
        found.extend(conn.execute(sa.select(table).where(col.in_(chunk))).all())
    return found


def delete_by(conn: Connection, table: sa.Table, column: str, keys: Iterable[Any]) -> None:
    keys = list(keys)
    col = table.c[column]
    for index in range(0, len(keys), 500):
        conn.execute(table.delete().where(col.in_(keys[index : index + 500])))


def replace_rows(
    conn: Connection, table: sa.Table, column: str, rows: Sequence[dict[str, Any]]
) -> None:
    """Delete the rows with these keys, insert the new ones: one statement each, any dialect."""
    if not rows:
        return
    delete_by(conn, table, column, {row[column] for row in rows})
    insert_rows(conn, table, rows)


_Inserter = tuple[str, Any, list[tuple[int, Any]]]
_inserters: dict[tuple[str, str], _Inserter] = {}


def _inserter(table: sa.Table, dialect: Any) -> _Inserter:
    """The INSERT text for all of a table's columns, a row-to-tuple getter, bind processors."""
    key = (dialect.name, table.name)
    found = _inserters.get(key)
    if found is None:
        quote = dialect.identifier_preparer.quote
        names = [column.name for column in table.columns]
        sql = (
            f"INSERT INTO {quote(table.name)} ({', '.join(quote(n) for n in names)}) "
            f"VALUES ({', '.join('?' for _ in names)})"
        )
        processors = [
            (index, processor)
            for index, column in enumerate(table.columns)
            if (processor := column.type.dialect_impl(dialect).bind_processor(dialect))
        ]
        getter = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
        found = _inserters[key] = (sql, getter, processors)
    return found


def insert_rows(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows that give a value for every column: one executemany.

    On SQLite the statement goes straight to the driver with each row as a tuple, which spares
    SQLAlchemy's per-row parameter processing (half the cost of a rebuild's writes); columns
    whose type converts values (Boolean) are converted as SQLAlchemy would. Other dialects use
    SQLAlchemy's own executemany (on PostgreSQL it batches rows into multi-row VALUES).
    """
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "sqlite":
        conn.execute(table.insert(), list(rows))
        return
    sql, getter, processors = _inserter(table, dialect)
    if processors:
        params: list[Any] = []
        for row in rows:
            values = list(getter(row))
            for index, processor in processors:
                values[index] = processor(values[index])
            params.append(tuple(values))
    else:
        params = [getter(row) for row in rows]
    conn.exec_driver_sql(sql, params)


def insert_tuples(conn: Connection, table: sa.Table, rows: Sequence[tuple[Any, ...]]) -> None:
    """Insert rows given as tuples in the table's column order: one executemany.

    For a view that builds its rows as tuples in the first place (the audit trail, one row per
    event), this spares a dict per row and the getter that turns it back into a tuple.
    """
    if not rows:
        return
    dialect = conn.dialect
    if dialect.name != "sqlite":
        names = table.c.keys()
        conn.execute(table.insert(), [dict(zip(names, row, strict=True)) for row in rows])
        return
    sql, _, processors = _inserter(table, dialect)
    if processors:
        converted = []
        for row in rows:
            values = list(row)
            for index, processor in processors:
                values[index] = processor(values[index])
            converted.append(tuple(values))
        rows = converted
    conn.exec_driver_sql(sql, list(rows))
