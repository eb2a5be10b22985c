"""Finished rows, written in group commits; on SQLite, on the event loop, with its WAL kept short.

Rows that arrive while a transaction is being written go together in the next one (one
INSERT of many rows), so under load a worker writes a few transactions a second instead of
one per answer, and nobody waits longer than one transaction. On SQLite the transaction is
written on the loop through sqlite3 itself, and checkpoints run in a thread (see `_insert`
and `_checkpoint_wal`); on PostgreSQL it goes through the async engine like every query.
Every write runs under the store's guard (`Store.guarded`/`observed`): one deadline, one
accounting, `StoreOperationFailed` on failure.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from sqlalchemy import Engine, insert
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from service.logs import get_logger
from service.metrics import metrics
from service.store.database import checkpointer_for, loop_writer_for
from service.store.errors import StoreOperationFailed
from service.store.tables import assessments


class Guard(Protocol):
    """What the writer uses of `Store`: its guard (deadline, accounting, SQLite's one writer)."""

    def guarded(self, operation: str, *, write: bool = True) -> AbstractAsyncContextManager[AsyncConnection]: ...

    def observed(self, operation: str, *, write: bool) -> AbstractAsyncContextManager[None]: ...

    def writing(self, write: bool) -> AbstractAsyncContextManager[None]: ...


DRAIN_SECONDS = 2.0
"""What `close` gives the last batch: one operation's deadline (`assessments.OPERATION_TIMEOUT`)."""
CHECKPOINT_EVERY = 1.0
CHECKPOINT_TIMEOUT = 30.0
WAL_RESTART_FRAMES = 4000
"""A WAL this long (about 16 MB) is checkpointed with this process's writers held back, so it
is copied back whole and starts over: otherwise answers written while every checkpoint runs
could keep it from ever starting over, and it would grow for as long as traffic lasts."""
BATCH_ROWS = 500
LOOP_BATCH_ROWS = 100
"""SQLite's batches are written on the event loop: a backlog goes in pieces the loop can afford."""

log = get_logger("attache.store")


class RowWriter:
    """The store's writer of finished rows (`Store.record`)."""

    def __init__(self, store: Guard, sqlite_engine: AsyncEngine | None) -> None:
        """`sqlite_engine`: the store's engine when it is SQLite (rows are then written on the loop)."""
        self._store = store
        self._batch: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._writer: asyncio.Task[None] | None = None
        self._loop_writer = loop_writer_for(sqlite_engine) if sqlite_engine is not None else None
        self._checkpointed = time.monotonic()
        self._checkpoint: asyncio.Task[None] | None = None
        self._wal_frames = 0
        self._checkpointer = (
            checkpointer_for(sqlite_engine) if self._loop_writer is not None and sqlite_engine else None
        )
        # The write that starts the WAL over syncs its header (even at synchronous=NORMAL): that
        # one goes through the thread. The WAL may be empty at start-up, so the first one too.
        self._wal_restarts = self._loop_writer is not None
        self._closing = False

    async def write(self, row: dict[str, Any]) -> None:
        """Keep one row; returns once its transaction is committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._batch.append((row, done))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_batches(), name="attache-store-writer")
        await done

    async def close(self) -> None:
        """Let the last batch and checkpoint end (each within its deadline), then let go of SQLite."""
        self._closing = True  # no checkpoint starts now
        for task, seconds in ((self._writer, DRAIN_SECONDS), (self._checkpoint, CHECKPOINT_TIMEOUT)):
            if task is not None and not task.done():
                _, late = await asyncio.wait({task}, timeout=seconds)
                for unfinished in late:
                    unfinished.cancel()
        if self._loop_writer is not None:
            self._loop_writer.dispose()
        if self._checkpointer is not None:
            self._checkpointer.dispose()

    async def _write_batches(self) -> None:
        rows = LOOP_BATCH_ROWS if self._loop_writer is not None else BATCH_ROWS
        while self._batch:
            batch, self._batch = self._batch[:rows], self._batch[rows:]
            try:
                await self._insert([row for row, _ in batch])
            except StoreOperationFailed as exc:
                for _, done in batch:
                    done.set_exception(StoreOperationFailed(str(exc)))
                continue
            except IntegrityError:  # one bad row (an id reused) must not cost the others theirs
                await self._write_one_by_one(batch)
                continue
            for _, done in batch:
                done.set_result(None)

    async def _write_one_by_one(self, batch: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        for row, done in batch:
            try:
                await self._insert([row])
                done.set_result(None)
            except (StoreOperationFailed, IntegrityError) as exc:
                done.set_exception(StoreOperationFailed(type(exc).__name__))

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        """One transaction of finished rows.

        On SQLite it is written on the event loop, through sqlite3 itself: a WAL append without
        fsync costs less than the hop to a thread, and a thread is worse under load: sqlite3
        lets go of the GIL around every step, and on a busy worker each step waits a switch
        interval (5 ms) to get it back, so a batch of a hundred rows held its answers for a
        fraction of a second (benchmarks/store.py measured 80 % of the store-less throughput).
        Nothing on the loop waits inside SQLite: a write lock held by another worker is
        retried after a sleep, within the operation's deadline; checkpoints, and the first write
        after a complete one (it starts the WAL over and syncs its header), go through the thread.
        """
        if self._loop_writer is None or self._wal_restarts:
            async with self._store.guarded("record") as connection:
                await connection.execute(insert(assessments), rows)
            self._wal_restarts = False
            self._schedule_checkpoint()
            return
        async with self._store.observed("record", write=True):
            pause = 0.001
            while True:
                try:
                    _insert_now(self._loop_writer, rows)
                    break
                except OperationalError as exc:
                    if getattr(exc.orig, "sqlite_errorcode", 0) & 0xFF != sqlite3.SQLITE_BUSY:  # with BUSY_*
                        raise
                await asyncio.sleep(pause)  # another worker is writing: its transaction is short
                pause = min(pause * 2, 0.05)
        self._schedule_checkpoint()

    def _schedule_checkpoint(self) -> None:
        if self._loop_writer is None or self._closing or self._checkpoint is not None:
            return
        if time.monotonic() - self._checkpointed >= CHECKPOINT_EVERY:
            self._checkpointed = time.monotonic()
            self._checkpoint = asyncio.create_task(self._checkpoint_wal(), name="attache-store-checkpoint")

    async def _checkpoint_wal(self) -> None:
        """Copy the WAL back into the database (PASSIVE: waits for no reader), off the loop.

        A checkpoint is housekeeping: one that fails is counted and logged as a warning, and
        says nothing about whether answers are kept (the writes themselves say that).
        """
        started = time.perf_counter()
        hold_writers = self._wal_frames >= WAL_RESTART_FRAMES
        try:
            assert self._checkpointer is not None  # noqa: S101 - scheduled only with the loop writer
            async with asyncio.timeout(CHECKPOINT_TIMEOUT), self._store.writing(hold_writers):
                busy, frames, copied = await asyncio.to_thread(_checkpoint_now, self._checkpointer)
            self._wal_frames = frames
            if busy == 0 and frames == copied:
                self._wal_restarts = True
            metrics().store_duration.labels("checkpoint").observe(time.perf_counter() - started)
        except Exception as exc:
            metrics().store_errors.labels("checkpoint").inc()
            log.warning("WAL checkpoint failed; a later write schedules another", error_type=type(exc).__name__)
        finally:
            self._checkpoint = None


def _checkpoint_now(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as connection:
        busy, frames, copied = connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").one()
    return int(busy), int(frames), int(copied)


def _insert_now(engine: Engine, rows: list[dict[str, Any]]) -> None:
    with engine.begin() as connection:
        connection.execute(insert(assessments), rows)
