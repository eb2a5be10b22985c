"""The store's schema and queries, on SQLite and on a real PostgreSQL server alike.

Migrations are tested up and down on both; the migrated schema is the one the code
declares (`service/store/tables.py`); a database at a revision this release does not know
stops start-up with a message saying what to do.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from service.settings import Settings
from service.store import Finished, Inputs, Started, Store, StoreOperationFailed, open_store
from service.store.database import (
    HEAD,
    MIGRATIONS,
    REVISIONS,
    StoreSchemaError,
    create_engine,
    downgrade_schema,
    prepare_schema,
)
from service.store.database import (
    database_url as url_for,
)
from service.store.tables import metadata
from tests.conftest import ATTACHE

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


def async_url(database_url: str) -> str:
    return url_for(Settings(database_url=database_url))


def test_the_release_knows_every_migration_alembic_has() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    scripts = ScriptDirectory.from_config(config)
    assert tuple(reversed([s.revision for s in scripts.walk_revisions()])) == REVISIONS
    assert scripts.get_current_head() == HEAD


def test_migrations_go_up_and_down_and_match_the_declared_tables(database_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(async_url(database_url), pool_size=1)
        try:
            assert await prepare_schema(engine) == HEAD
            async with engine.connect() as connection:
                differences = await connection.run_sync(
                    lambda sync: compare_metadata(MigrationContext.configure(sync), metadata)
                )
                assert differences == [], differences
            await downgrade_schema(engine, "base")
            async with engine.connect() as connection:
                tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
            assert "assessments" not in tables
            assert await prepare_schema(engine) == HEAD, "and up again"
        finally:
            await engine.dispose()

    run(scenario())


def test_an_unknown_revision_stops_start_up(database_url: str) -> None:
    async def scenario() -> None:
        engine = create_engine(async_url(database_url), pool_size=1)
        try:
            await prepare_schema(engine)
            async with engine.begin() as connection:
                await connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
            with pytest.raises(StoreSchemaError, match="'9999', which this release of Attaché does not know"):
                await prepare_schema(engine)
        finally:
            await engine.dispose()

    run(scenario())
    result = subprocess.run(
        [ATTACHE, "serve", "--port", "1"],
        env={
            **os.environ,
            "ATTACHE_DATABASE_URL": database_url,
            "ATTACHE_CACHE_DIR": "off",
            "ATTACHE_CALLER_SECRET": "a-shared-caller-secret-for-every-replica",
        },
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "does not know" in result.stderr
    assert "Traceback" not in result.stderr


def test_db_upgrade_creates_the_schema(database_url: str) -> None:
    result = subprocess.run(
        [ATTACHE, "db", "upgrade"],
        env={**os.environ, "ATTACHE_DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"is at migration {HEAD}" in result.stdout
    assert "password" not in result.stdout


def test_db_upgrade_names_an_unreachable_database() -> None:
    result = subprocess.run(
        [ATTACHE, "db", "upgrade"],
        env={**os.environ, "ATTACHE_DATABASE_URL": "postgresql://attache:s3cret-pw@127.0.0.1:1/attache"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "cannot reach the database" in result.stderr
    assert "s3cret-pw" not in result.stderr + result.stdout, "a password is never printed"


def started(number: int, **overrides: Any) -> Started:
    values: dict[str, Any] = {
        "id": f"{number:032x}",
        "created_at": NOW - dt.timedelta(minutes=number),
        "caller": "key-a",
        "agent": "jp-01",
        "version": "1.0.0",
        "label": "stable",
        "sha256": "0" * 64,
        "inputs": Inputs("news", None, None, None, "1" * 64),
        **overrides,
    }
    return Started(**values)


def finished(outcome: str = "ok", **overrides: Any) -> Finished:
    values: dict[str, Any] = {"body": b"{}", **overrides}
    return Finished(finished_at=NOW, outcome=outcome, http_status=200 if outcome == "ok" else 502, **values)


async def opened(database_url: str) -> Store:
    return await open_store(async_url(database_url), pool_size=2)


def test_an_idempotency_key_is_held_once_per_caller_for_24_hours(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            first = started(1, idempotency_key="k", request_sha256="r1", created_at=NOW)
            assert await store.claim(first, NOW) is None
            holder = await store.claim(started(2, idempotency_key="k", request_sha256="r2", created_at=NOW), NOW)
            assert holder is not None
            assert holder.id == first.id
            assert await store.claim(started(3, idempotency_key="k", caller="key-b", created_at=NOW), NOW) is None
            later = NOW + dt.timedelta(hours=25)
            assert await store.claim(started(4, idempotency_key="k", created_at=later), later) is None, "freed"
        finally:
            await store.close()

    run(scenario())


def test_pages_are_newest_first_and_stable(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            for number in range(1, 8):
                await store.record(started(number, caller="key-a" if number % 2 else "key-b"), finished())
            seen: list[str] = []
            after = None
            while True:
                rows = await store.page(
                    caller=None, agent=None, version=None, outcome=None, since=None, until=None, after=after, limit=3
                )
                seen += [row.id for row in rows]
                if len(rows) < 3:
                    break
                after = (rows[-1].created_at, rows[-1].id)
            assert seen == [f"{n:032x}" for n in range(1, 8)]
            mine = await store.page(
                caller="key-b", agent="jp-01", version=None, outcome="ok", since=None, until=None, after=None, limit=10
            )
            assert [row.id for row in mine] == [f"{n:032x}" for n in (2, 4, 6)]
        finally:
            await store.close()

    run(scenario())


def test_retention_purges_old_rows_in_batches(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            for number in range(1, 6):
                await store.record(started(number, created_at=NOW - dt.timedelta(days=40)), finished())
            await store.record(started(9, created_at=NOW), finished())
            assert await store.purge(NOW - dt.timedelta(days=30), batch=2) == 2
            assert await store.purge(NOW - dt.timedelta(days=30), batch=2) == 2
            assert await store.purge(NOW - dt.timedelta(days=30), batch=2) == 1
            assert await store.purge(NOW - dt.timedelta(days=30), batch=2) == 0
            assert await store.get(f"{9:032x}") is not None
        finally:
            await store.close()

    run(scenario())


def test_an_expired_lease_is_interrupted_and_a_late_answer_still_lands(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            row = started(1)
            await store.claim(row, NOW - dt.timedelta(seconds=1))
            ended = finished("interrupted")
            assert await store.interrupt(ended, expired_at=NOW) == 1
            assert (await store.get(row.id)).outcome == "interrupted"  # type: ignore[union-attr]
            assert await store.finish(row.id, finished())
            assert (await store.get(row.id)).outcome == "ok"  # type: ignore[union-attr]
        finally:
            await store.close()

    run(scenario())


def test_the_default_store_is_sqlite_in_the_data_folder(tmp_path: Path) -> None:
    assert url_for(Settings(data_dir=str(tmp_path))) == f"sqlite+aiosqlite:///{tmp_path / 'attache.db'}"
    assert url_for(Settings(database_url="postgresql://u:p@h/db")).startswith("postgresql+asyncpg://u:p@h/db")


def test_answers_recorded_together_are_all_kept_and_one_bad_row_costs_only_itself(database_url: str) -> None:
    async def scenario() -> None:
        store = await opened(database_url)
        try:
            rows = [started(number) for number in range(1, 201)]
            results = await asyncio.gather(
                *(store.record(row, finished()) for row in [*rows, rows[0]]), return_exceptions=True
            )
            failed = [result for result in results if isinstance(result, Exception)]
            assert len(failed) == 1, "only the repeated id fails"
            page = await store.page(
                caller=None, agent=None, version=None, outcome=None, since=None, until=None, after=None, limit=500
            )
            assert {row.id for row in page} == {row.id for row in rows}
        finally:
            await store.close()

    run(scenario())


def test_a_sqlite_write_waits_for_another_workers_lock_on_the_loop_without_blocking_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers are written on the event loop (SQLite), so nothing there may wait inside SQLite:
    a write lock held by another process is waited out in asyncio, and past the operation's
    deadline the write fails as any store outage does."""
    import sqlite3

    import service.store.assessments as store_module
    import service.store.sqlite_writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", 3600.0)
    path = tmp_path / "attache.db"

    async def scenario() -> None:
        store = await opened(f"sqlite:///{path}")
        other = sqlite3.connect(path, isolation_level=None)
        try:
            await store.record(started(9), finished())  # starts the WAL (through the thread)
            assert not store.writer._wal_restarts, "what follows is written on the loop"
            gaps: list[float] = []

            async def ticker() -> None:
                loop = asyncio.get_running_loop()
                while True:
                    before = loop.time()
                    await asyncio.sleep(0.005)
                    gaps.append(loop.time() - before)

            ticking = asyncio.create_task(ticker())
            other.execute("BEGIN IMMEDIATE")  # another worker's write transaction
            write = asyncio.create_task(store.record(started(1), finished()))
            await asyncio.sleep(0.3)
            assert not write.done(), "the write waits for the lock"
            other.execute("COMMIT")
            await asyncio.wait_for(write, 1)
            assert (await store.get(started(1).id)) is not None
            assert max(gaps) < 0.1, f"the loop stalled {max(gaps) * 1000:.0f} ms"

            monkeypatch.setattr(store_module, "OPERATION_TIMEOUT", 0.3)
            other.execute("BEGIN IMMEDIATE")
            with pytest.raises(StoreOperationFailed):
                await store.record(started(2), finished())
            other.execute("COMMIT")
            await store.record(started(3), finished())  # and the next write goes through
            assert await store.get(started(2).id) is None, "the refused write left nothing"
            ticking.cancel()
        finally:
            other.close()
            await store.close()

    run(scenario())


@pytest.mark.parametrize("every", [0.0, 3600.0])
def test_sqlite_checkpoints_run_off_the_loop_and_only_there(
    every: float, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The loop's writer never checkpoints (a checkpoint fsyncs); the store does it in the background."""
    import service.store.sqlite_writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", every)
    path = tmp_path / "attache.db"

    async def scenario() -> None:
        store = await opened(f"sqlite:///{path}")
        try:
            size = path.stat().st_size
            for number in range(1, 301):
                await store.record(started(number), finished(body=b"x" * 16000))
            if store.writer._checkpoint is not None:
                await store.writer._checkpoint
            grew = path.stat().st_size > size
            assert grew is (every == 0.0), f"database file {size} -> {path.stat().st_size} bytes"
        finally:
            await store.close()

    run(scenario())


@pytest.mark.parametrize("code", [5, 261, 517], ids=["BUSY", "BUSY_RECOVERY", "BUSY_SNAPSHOT"])
def test_every_kind_of_sqlite_busy_is_waited_out(code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    import service.store.sqlite_writer as writer_module

    real = writer_module._insert_now
    refusals = 2

    def busy_twice(engine: Any, rows: list[dict[str, Any]]) -> None:
        nonlocal refusals
        if refusals:
            refusals -= 1
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = code
            raise OperationalError("INSERT", {}, error)
        real(engine, rows)

    async def scenario() -> None:
        store = await opened(f"sqlite:///{tmp_path / 'attache.db'}")
        try:
            await store.record(started(1), finished())  # the first write goes through the thread
            monkeypatch.setattr(writer_module, "_insert_now", busy_twice)
            await store.record(started(2), finished())
            assert refusals == 0
            assert await store.get(started(2).id) is not None
        finally:
            await store.close()

    run(scenario())


def test_the_wal_starts_over_while_answers_keep_coming(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's writer never checkpoints, so the store's background checkpoints are all that
    keeps the WAL from growing with every answer: under steady writes from several callers it
    starts over again and again. (Past WAL_RESTART_FRAMES a checkpoint also holds this process's
    writers back, in asyncio, so that one that never catches up cannot leave it growing.)"""
    import service.store.sqlite_writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", 0.02)
    monkeypatch.setattr(writer_module, "WAL_RESTART_FRAMES", 200)
    path = tmp_path / "attache.db"
    wal = Path(f"{path}-wal")

    async def scenario() -> None:
        store = await opened(f"sqlite:///{path}")
        try:
            deadline = asyncio.get_running_loop().time() + 2
            numbers = iter(range(1, 1_000_000))
            largest = written = 0

            async def answers() -> None:  # one caller after another, several at a time
                nonlocal largest, written
                while asyncio.get_running_loop().time() < deadline:
                    await store.record(started(next(numbers)), finished(body=b"x" * 8000))
                    written += 8000
                    largest = max(largest, wal.stat().st_size)  # noqa: ASYNC240 - a stat, between writes

            await asyncio.gather(*(answers() for _ in range(8)))
        finally:
            await store.close()
        print(f"WAL at most {largest / 1e6:.1f} MB for {written / 1e6:.1f} MB of answers")
        assert largest < written / 3, f"WAL grew to {largest / 1e6:.1f} MB for {written / 1e6:.1f} MB of answers"

    run(scenario())


def test_a_failed_checkpoint_is_housekeeping_not_an_outage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import service.store.sqlite_writer as writer_module

    monkeypatch.setattr(writer_module, "CHECKPOINT_EVERY", 0.0)

    async def scenario() -> None:
        store = await opened(f"sqlite:///{tmp_path / 'attache.db'}")
        try:
            monkeypatch.setattr(writer_module, "CHECKPOINT_TIMEOUT", 0.0)  # every checkpoint times out
            for number in range(1, 4):
                await store.record(started(number), finished())
                if store.writer._checkpoint is not None:
                    await store.writer._checkpoint
            assert store.available, "answers are kept: the store is up"
        finally:
            await store.close()

    run(scenario())


def test_an_in_memory_sqlite_store_works_without_the_loop_writer() -> None:
    async def scenario() -> None:
        store = await open_store("sqlite+aiosqlite:///:memory:", pool_size=1)
        try:
            await store.record(started(1), finished())
            assert await store.get(started(1).id) is not None
        finally:
            await store.close()

    run(scenario())
