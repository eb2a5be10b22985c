"""The store: every query the service makes, behind one guard.

Handlers never build SQL; they call these methods. Each runs under a deadline
(`OPERATION_TIMEOUT`), so a hung database costs a request at most that long; any failure
raises `StoreOperationFailed`, is counted (`attache_store_errors_total{operation}`) and logged
once per change of state, and the next call tries again: a database that comes back is
used again without a restart (the pool pings connections before use).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import fields
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.logs import get_logger
from service.metrics import metrics
from service.store.database import (
    OFF,
    StoreSchemaError,
    backend_of,
    create_engine,
    describe,
    prepare_schema,
)
from service.store.errors import StoreOperationFailed
from service.store.records import DONE, PENDING, Finished, Started, Stored
from service.store.sqlite_writer import RowWriter
from service.store.tables import assessments

OPERATION_TIMEOUT = 2.0
IDEMPOTENCY_WINDOW = dt.timedelta(hours=24)
INTERRUPTED = "interrupted"
_COLUMNS = [assessments.c[f.name] for f in fields(Stored)]
_FINISHED_FIELDS = tuple(f.name for f in fields(Finished))

log = get_logger("attache.store")


class Store:
    def __init__(self, engine: AsyncEngine | None) -> None:
        """`engine` None: a deployment that keeps nothing (ATTACHE_DATABASE_URL=off)."""
        self._engine = engine
        self.backend = backend_of(str(engine.url)) if engine else OFF
        self.location = describe(str(engine.url)) if engine else OFF
        self.available = False
        self.revision: str | None = None
        self._write_lock = asyncio.Lock() if self.backend == "sqlite" else None
        self.writer = RowWriter(self, engine if self.backend == "sqlite" else None)

    @property
    def engine(self) -> AsyncEngine:
        assert self._engine is not None  # noqa: S101 - only used once opened
        return self._engine

    @property
    def enabled(self) -> bool:
        return self._engine is not None

    async def open(self) -> None:
        """Bring the schema to this release's head; StoreSchemaError if it cannot be (fatal).

        A database that cannot be reached is not fatal: the store stays unavailable (every
        operation raises StoreOperationFailed at once) and `reopen` keeps trying in the background.
        """
        if not self.enabled:
            return
        try:
            async with asyncio.timeout(30):
                self.revision = await prepare_schema(self.engine)
        except StoreSchemaError:
            raise
        except Exception as exc:
            metrics().store_errors.labels("open").inc()
            metrics().store_available.set(0)
            log.error("store unavailable at start-up; retrying in the background", error_type=type(exc).__name__)
            return
        self._mark_available("open")

    async def reopen(self, every: float = 5.0) -> None:
        """Until the schema is prepared: try again every `every` seconds."""
        while self.enabled and self.revision is None:
            await asyncio.sleep(every)
            await self.open()

    async def close(self) -> None:
        await self.writer.close()
        if self._engine is not None:
            await self._engine.dispose()

    def _mark_available(self, operation: str) -> None:
        if not self.available:
            log.info("store available", operation=operation, store=self.location)
            metrics().store_available.set(1)
        self.available = True

    @asynccontextmanager
    async def guarded(self, operation: str, *, write: bool = True) -> AsyncIterator[AsyncConnection]:
        async with (
            self.observed(operation, write=write),
            self.engine.begin() if write else self.engine.connect() as connection,
        ):
            yield connection

    @asynccontextmanager
    async def observed(self, operation: str, *, write: bool) -> AsyncIterator[None]:
        """The deadline, SQLite's one writer, and the accounting every operation shares."""
        if self.revision is None:  # not opened yet: fail at once, the background retry will open it
            if self.enabled:
                metrics().store_errors.labels(operation).inc()
            raise StoreOperationFailed(operation)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(OPERATION_TIMEOUT), self.writing(write):
                yield
        except (IntegrityError, StoreOperationFailed):
            raise
        except Exception as exc:
            metrics().store_errors.labels(operation).inc()
            if self.available:
                log.error("store unavailable", operation=operation, error_type=type(exc).__name__)
                metrics().store_available.set(0)
            self.available = False
            raise StoreOperationFailed(operation) from exc
        self._mark_available(operation)
        metrics().store_duration.labels(operation).observe(time.perf_counter() - started)

    @asynccontextmanager
    async def writing(self, write: bool) -> AsyncIterator[None]:
        """SQLite has one writer at a time: this process's writers queue here, in asyncio,
        rather than in SQLite's busy handler, which sleeps and retries (the reason for the
        busy timeout is the other workers' processes)."""
        if write and self._write_lock is not None:
            async with self._write_lock:
                yield
        else:
            yield

    async def ping(self) -> None:
        async with self.guarded("ping", write=False) as connection:
            await connection.execute(select(1))

    # -- writing ---------------------------------------------------------------------------

    async def record(self, started: Started, finished: Finished) -> None:
        """Keep an assessment that finished without having been claimed; returns once committed
        (in a group commit with the rows that arrive meanwhile: `sqlite_writer.RowWriter`)."""
        if self.revision is None:
            async with self.guarded("record"):
                pass  # raises StoreOperationFailed, counted
        await self.writer.write({**_started(started), **_finished(finished)})

    async def claim(self, started: Started, lease_until: dt.datetime) -> Stored | None:
        """Insert `started` as pending; None when that succeeds.

        With an idempotency key already used by this caller in the last 24 h, nothing is
        inserted and the row that holds the key is returned instead (the unique constraint
        decides, so this holds across workers and replicas). A key older than that is freed.
        """
        row = {**_started(started), "status": PENDING, "lease_until": lease_until}
        for _ in range(2):
            try:
                async with self.guarded("claim") as connection:
                    await connection.execute(insert(assessments).values(**row))
                return None
            except IntegrityError:
                if started.idempotency_key is None:
                    raise
            holder = await self._holder(started.caller, started.idempotency_key)
            if holder is None:
                continue  # freed between the two statements
            if holder.created_at >= started.created_at - IDEMPOTENCY_WINDOW:
                return holder
            async with self.guarded("claim") as connection:
                await connection.execute(
                    update(assessments).where(assessments.c.id == holder.id).values(idempotency_key=None)
                )
        raise StoreOperationFailed("claim")

    async def _holder(self, caller: str, key: str) -> Stored | None:
        query = select(*_COLUMNS).where(assessments.c.caller == caller, assessments.c.idempotency_key == key)
        async with self.guarded("claim", write=False) as connection:
            found = (await connection.execute(query)).first()
        return _stored(found)

    async def finish(self, assessment_id: str, finished: Finished) -> bool:
        """Finish a pending row (or one the sweep gave up on: the answer is here after all)."""
        query = (
            update(assessments)
            .where(
                assessments.c.id == assessment_id,
                or_(assessments.c.status == PENDING, assessments.c.outcome == INTERRUPTED),
            )
            .values(**_finished(finished), lease_until=None)
        )
        async with self.guarded("finish") as connection:
            return (await connection.execute(query)).rowcount == 1

    async def release(self, assessment_id: str) -> None:
        """Forget a claim whose request never started (refused for overload): its key is free again."""
        query = delete(assessments).where(assessments.c.id == assessment_id, assessments.c.status == PENDING)
        async with self.guarded("release") as connection:
            await connection.execute(query)

    async def renew(self, ids: Sequence[str], lease_until: dt.datetime) -> None:
        query = (
            update(assessments)
            .where(assessments.c.id.in_(ids), assessments.c.status == PENDING)
            .values(lease_until=lease_until)
        )
        async with self.guarded("renew") as connection:
            await connection.execute(query)

    async def interrupt(
        self, finished: Finished, *, ids: Sequence[str] = (), expired_at: dt.datetime | None = None
    ) -> int:
        """Mark pending rows interrupted: those in `ids`, or those whose lease ended before `expired_at`."""
        condition = assessments.c.id.in_(ids) if ids else assessments.c.lease_until < expired_at
        query = (
            update(assessments)
            .where(assessments.c.status == PENDING, condition)
            .values(**_finished(finished), lease_until=None)
        )
        async with self.guarded("interrupt") as connection:
            return int((await connection.execute(query)).rowcount)

    async def purge(self, before: dt.datetime, batch: int) -> int:
        """Delete up to `batch` finished rows created before `before`; how many went."""
        oldest = (
            select(assessments.c.id)
            .where(assessments.c.created_at < before, assessments.c.status == DONE)
            .order_by(assessments.c.created_at)
            .limit(batch)
        )
        async with self.guarded("purge") as connection:
            return int((await connection.execute(delete(assessments).where(assessments.c.id.in_(oldest)))).rowcount)

    # -- reading ---------------------------------------------------------------------------

    async def get(self, assessment_id: str) -> Stored | None:
        query = select(*_COLUMNS).where(assessments.c.id == assessment_id)
        async with self.guarded("get", write=False) as connection:
            return _stored((await connection.execute(query)).first())

    async def cached(self, cache_key: str, not_before: dt.datetime) -> Stored | None:
        """The newest successful answer to an identical request, if one is recent enough."""
        query = (
            select(*_COLUMNS)
            .where(
                assessments.c.cache_key == cache_key,
                assessments.c.created_at >= not_before,
                assessments.c.outcome == "ok",
            )
            .order_by(assessments.c.created_at.desc())
            .limit(1)
        )
        async with self.guarded("cache", write=False) as connection:
            return _stored((await connection.execute(query)).first())

    async def page(
        self,
        *,
        caller: str | None,
        agent: str | None,
        version: str | None,
        outcome: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        after: tuple[dt.datetime, str] | None,
        limit: int,
        label: str | None = None,
    ) -> list[Stored]:
        """Newest first; `after` is the (created_at, id) of the last row of the previous page."""
        conditions: list[Any] = []
        if caller is not None:
            conditions.append(assessments.c.caller == caller)
        for column, value in (("agent", agent), ("version", version), ("outcome", outcome), ("label", label)):
            if value is not None:
                conditions.append(assessments.c[column] == value)
        if since is not None:
            conditions.append(assessments.c.created_at >= since)
        if until is not None:
            conditions.append(assessments.c.created_at < until)
        if after is not None:
            conditions.append(tuple_(assessments.c.created_at, assessments.c.id) < tuple_(*after))
        query = (
            select(*_COLUMNS)
            .where(and_(True, *conditions))
            .order_by(assessments.c.created_at.desc(), assessments.c.id.desc())
            .limit(limit)
        )
        async with self.guarded("list", write=False) as connection:
            rows = (await connection.execute(query)).all()
        return [Stored(*row) for row in rows]


def _started(started: Started) -> dict[str, Any]:
    inputs = started.inputs
    return {
        "id": started.id,
        "created_at": started.created_at,
        "caller": started.caller,
        "agent": started.agent,
        "version": started.version,
        "label": started.label,
        "sha256": started.sha256,
        "context": inputs.context,
        "question": inputs.question,
        "source": inputs.source,
        "as_of": inputs.as_of,
        "input_sha256": inputs.sha256,
        "idempotency_key": started.idempotency_key,
        "request_sha256": started.request_sha256,
        "cache_key": started.cache_key,
    }


def _finished(finished: Finished) -> dict[str, Any]:
    # Not dataclasses.asdict: it deep-copies every value (the body's bytes included).
    return {**{name: getattr(finished, name) for name in _FINISHED_FIELDS}, "status": DONE}


def _stored(row: Any) -> Stored | None:
    return None if row is None else Stored(*row)


async def open_store(url: str, *, pool_size: int) -> Store:
    """A store for `url` (or `off`), opened (see `Store.open`)."""
    store = Store(None if url == OFF else create_engine(url, pool_size=pool_size))
    try:
        await store.open()
    except BaseException:
        await store.close()
        raise
    return store
