"""Which database, how to connect to it, and its schema revision.

SQLite in `ATTACHE_DATA_DIR` by default (created on first start, WAL mode: readers never
wait for the writer, and several workers share the file); PostgreSQL with
`ATTACHE_DATABASE_URL=postgresql://…`. One SQLAlchemy code path for both, async drivers
(aiosqlite, asyncpg).

Revisions are Alembic's (`migrations/`). Start-up upgrades a database that is behind
(on PostgreSQL under an advisory lock, so replicas starting together take turns) and
refuses one at a revision this release does not know, written by a newer release.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import NullPool

from service.settings import Settings, SettingsError

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Every revision, oldest first; the store tests check it against Alembic's scripts, so
# start-up can read the database's revision without importing Alembic (~0.3 s).
REVISIONS = ("0001",)
HEAD = REVISIONS[-1]
SQLITE_FILE = "attache.db"
_ADVISORY_LOCK = 0x61747461636865  # "attache"


class StoreSchemaError(RuntimeError):
    """The database cannot be used by this release; the message says what to do."""


OFF = "off"


def database_url(settings: Settings) -> str:
    """The SQLAlchemy URL, with the async driver, for ATTACHE_DATABASE_URL or the SQLite default;
    `off` when the deployment keeps nothing."""
    if settings.database_url == OFF:
        return OFF
    if not settings.database_url:
        return f"sqlite+aiosqlite:///{Path(settings.data_dir) / SQLITE_FILE}"
    try:
        url = make_url(settings.database_url)
    except Exception:  # SQLAlchemy raises ArgumentError; the message may quote a password
        raise SettingsError("ATTACHE_DATABASE_URL: not a database URL") from None
    if url.get_backend_name() == "postgresql":
        url = url.set(drivername="postgresql+asyncpg")
    elif url.get_backend_name() == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    else:
        raise SettingsError(
            f"ATTACHE_DATABASE_URL: {url.get_backend_name()!r} is not supported; use postgresql:// or sqlite:///"
        )
    return url.render_as_string(hide_password=False)


def backend_of(url: str) -> str:
    return make_url(url).get_backend_name()


def create_engine(url: str, *, pool_size: int) -> AsyncEngine:
    backend = backend_of(url)
    options: dict[str, Any] = {}
    if backend == "sqlite":
        path = make_url(url).database
        if path:  # created on first start; if it cannot be, connecting fails and the store is unavailable
            with contextlib.suppress(OSError):
                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        options["connect_args"] = {"timeout": 5}
    else:
        # pre_ping: a connection the server dropped (a restart, a failover) is replaced before use,
        # so a database that comes back is used again. (A local SQLite file has no such failure.)
        options.update(
            pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, pool_timeout=2, pool_recycle=1800
        )
        server_settings = {"application_name": "attache"}
        options["connect_args"] = {"timeout": 2, "command_timeout": 5, "server_settings": server_settings}
    engine = create_async_engine(url, **options)
    if backend == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


JOURNAL_SIZE_LIMIT = 32 * 1024 * 1024


def loop_writer_for(engine: AsyncEngine) -> Engine | None:
    """A synchronous engine on the same SQLite file (sqlite3 itself), used on the event loop;
    None for a database that is not a file (an in-memory one is another database per engine).

    It never waits inside SQLite: no busy timeout (a lock held by another worker is SQLITE_BUSY
    at once, and the store retries after an asyncio sleep), no automatic checkpoint (the store
    checkpoints through the async engine, off the loop), no wait for its one pooled connection.
    What is left is appending a few pages to the WAL, which at synchronous=NORMAL needs no
    fsync, except when the WAL starts over: the store sends that write through the thread.
    """
    if engine.url.database in (None, "", ":memory:"):
        return None
    url = engine.url.set(drivername="sqlite")
    sync = sqlalchemy.create_engine(url, connect_args={"timeout": 0}, pool_size=1, max_overflow=0, pool_timeout=0)
    event.listen(sync, "connect", _loop_writer_pragmas)
    return sync


def checkpointer_for(engine: AsyncEngine) -> Engine:
    """A synchronous engine on the same SQLite file for checkpoints, run in a thread: one
    sqlite3 call, which lets go of the GIL throughout (through aiosqlite, the hops to and from
    its thread each waited for the GIL on a busy worker: 480 ms a checkpoint under load)."""
    url = engine.url.set(drivername="sqlite")
    sync = sqlalchemy.create_engine(url, connect_args={"timeout": 5, "check_same_thread": False}, poolclass=NullPool)
    event.listen(sync, "connect", _sqlite_pragmas)
    return sync


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL: readers never block the writer; NORMAL: durable across a process crash (the case
    # that matters here), at a fraction of FULL's fsyncs; busy_timeout: workers take turns.
    # journal_size_limit: a WAL that grew under a burst is cut back when it starts over.
    _pragmas(
        dbapi_connection,
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "busy_timeout=5000",
        "foreign_keys=ON",
        f"journal_size_limit={JOURNAL_SIZE_LIMIT}",
    )


def _loop_writer_pragmas(dbapi_connection: Any, _: Any) -> None:
    _pragmas(
        dbapi_connection,
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "busy_timeout=0",
        "wal_autocheckpoint=0",
        f"journal_size_limit={JOURNAL_SIZE_LIMIT}",
    )


def _pragmas(dbapi_connection: Any, *pragmas: str) -> None:
    cursor = dbapi_connection.cursor()
    for pragma in pragmas:
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


async def current_revision(connection: AsyncConnection) -> str | None:
    """The database's migration, or None for a new, empty database."""
    if not await connection.run_sync(lambda sync: inspect(sync).has_table("alembic_version")):
        return None
    result = await connection.execute(text("SELECT version_num FROM alembic_version"))
    return result.scalar_one_or_none()


async def prepare_schema(engine: AsyncEngine, *, upgrade: bool = True) -> str:
    """Bring the database to HEAD (or check it is there); return the revision it is at."""
    async with engine.connect() as connection:
        if backend_of(str(engine.url)) == "postgresql":
            # Held until this transaction ends: replicas starting together migrate in turn.
            await connection.execute(text(f"SELECT pg_advisory_xact_lock({_ADVISORY_LOCK})"))
        revision = await current_revision(connection)
        if revision not in (None, *REVISIONS):
            raise StoreSchemaError(
                f"the database is at migration {revision!r}, which this release of Attaché does not know "
                f"(it knows {', '.join(REVISIONS)}): it was written by a newer release. Run that release, "
                "or restore a backup taken before it migrated."
            )
        if revision != HEAD:
            if not upgrade:
                raise StoreSchemaError(f"the database is at migration {revision or 'none'}; run `attache db upgrade`")
            await connection.run_sync(_upgrade_sync, HEAD)
            await connection.commit()
            revision = HEAD
    return revision


async def downgrade_schema(engine: AsyncEngine, target: str) -> None:
    async with engine.connect() as connection:
        await connection.run_sync(_downgrade_sync, target)
        await connection.commit()


def _config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def _upgrade_sync(connection: Connection, target: str) -> None:
    from alembic import command

    command.upgrade(_config(connection), target)


def _downgrade_sync(connection: Connection, target: str) -> None:
    from alembic import command

    command.downgrade(_config(connection), target)


def describe(url: str) -> str:
    """The URL without its password, for logs and `/health/ready`."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"sqlite:///{parsed.database}"
    return parsed.set(drivername=parsed.get_backend_name()).render_as_string(hide_password=True)


def upgrade_schema(url: str, *, timeout: float = 60.0) -> str:
    """Bring the database at `url` to this release's head, from outside any event loop (the CLI).

    StoreSchemaError when it cannot be; the driver's exception when the database cannot be reached.
    """

    async def run() -> str:
        engine = create_engine(url, pool_size=1)
        try:
            async with asyncio.timeout(timeout):
                return await prepare_schema(engine)
        finally:
            await engine.dispose()

    return asyncio.run(run())
