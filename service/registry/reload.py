"""Reload the registry without a restart: on SIGHUP, and when its files change on disk.

A reload loads and validates the whole registry off the event loop, exactly as start-up
does, then swaps it in with one assignment. A request that already resolved its prompt
keeps the objects it holds, so an assessment in flight finishes on the version it
resolved. On any failure the last good registry goes on serving; the reason is logged and
counted (`attache_registry_reloads_total{outcome="failed"}`), and `/health/ready` shows it.

Changes are noticed by polling a fingerprint (every `ATTACHE_REGISTRY_RELOAD_SECONDS`):
the bytes of `registry.lock` and of every `persona.yaml`, and the name, size and time of
every version file (so a publish still being copied is tried again once the copy ends).
A Kubernetes ConfigMap volume is updated by writing a new timestamped folder and swapping
the `..data` symlink to it in one rename; the fingerprint and the load both read through
the link's target at that moment, so a reload never mixes two generations of files.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from service.logs import get_logger
from service.registry.load import PERSONA_FILE, RegistryInvalid, load_registry
from service.registry.lock import LOCK_NAME
from service.registry.model import Registry
from service.registry.yamlfile import Problem

CONFIGMAP_DATA = "..data"
MAX_LOGGED_PROBLEMS = 20

log = get_logger("attache.registry")


def snapshot_root(root: Path) -> Path:
    """The folder to read: a ConfigMap volume's current `..data` target, else `root` itself."""
    data = root / CONFIGMAP_DATA
    return data.resolve() if data.is_symlink() else root


def load_snapshot(root: Path, *, cache_dir: Path | None) -> Registry:
    """`load_registry` of one snapshot of `root`; problems name the files as `root/...`, as operators know them."""
    snapshot = snapshot_root(root)
    try:
        return load_registry(snapshot, cache_dir=cache_dir)
    except RegistryInvalid as exc:
        if snapshot == root:
            raise
        problems = [
            Problem(root / p.path.relative_to(snapshot), p.line, p.message) if p.path.is_relative_to(snapshot) else p
            for p in exc.problems
        ]
        raise RegistryInvalid(root, problems) from None


def fingerprint(root: Path) -> str:
    """A hash of what publishing or moving a label changes, read from one snapshot of `root`."""
    snapshot = snapshot_root(root)
    digest = hashlib.sha256(str(snapshot).encode())
    lock = snapshot / LOCK_NAME
    digest.update(_bytes(lock))
    for folder in sorted(p for p in snapshot.iterdir() if not p.name.startswith(".") and p.is_dir()):
        digest.update(folder.name.encode())
        digest.update(_bytes(folder / PERSONA_FILE))
        for path in sorted(folder.glob("*.yaml")):
            try:
                info = path.stat()
            except OSError:
                continue
            digest.update(f"{path.name}:{info.st_size}:{info.st_mtime_ns}".encode())
    return digest.hexdigest()


def _bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        return f"unreadable:{exc.errno}".encode()


@dataclass(frozen=True, slots=True)
class ReloadState:
    """What `/health/ready` reports about the registry being served."""

    loaded_at: dt.datetime
    error: str | None
    """Why the last reload failed, while the registry loaded before it goes on serving."""


class RegistryReloader:
    """Keeps `current` (the registry being served) fresh; `swap` is called with each new one."""

    def __init__(
        self,
        root: Path,
        current: Registry,
        *,
        cache_dir: Path | None,
        swap: Callable[[Registry, Registry], None],
        counted: Callable[[str], None] = lambda outcome: None,
    ) -> None:
        """`swap(previous, loaded)` serves a new registry; `counted(outcome)` ("ok", "failed") reports each try."""
        self.root = root
        self.current = current
        self.cache_dir = cache_dir
        self._swap = swap
        self._counted = counted
        self.state = ReloadState(loaded_at=dt.datetime.now(dt.UTC), error=None)
        self._seen = self._fingerprint_or_none()
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[bool]] = set()

    def _fingerprint_or_none(self) -> str | None:
        try:
            return fingerprint(self.root)
        except OSError:
            return None

    def request(self, reason: str) -> None:
        """Reload soon (a signal handler: it only schedules the work)."""
        task = asyncio.get_running_loop().create_task(self.reload(reason), name="attache-registry-reload")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self, reason: str) -> bool:
        """Load, validate, swap; True when the new registry is being served."""
        async with self._lock:
            started = time.perf_counter()
            seen = await asyncio.to_thread(self._fingerprint_or_none)
            try:
                loaded = await asyncio.to_thread(self._load)
            except RegistryInvalid as exc:
                self._seen = seen  # not retried until something changes again (or SIGHUP)
                problems = [str(p) for p in exc.problems]
                self._failed(reason, f"{len(problems)} problem(s): {problems[0]}", problems)
                return False
            except Exception as exc:  # a reload must never take the serving registry down with it
                self._seen = seen
                self._failed(reason, f"{type(exc).__name__}: {exc}", [])
                return False
            previous, self.current, self._seen = self.current, loaded, seen
            self._swap(previous, loaded)
            self.state = ReloadState(loaded_at=dt.datetime.now(dt.UTC), error=None)
            self._counted("ok")
            log.info(
                "registry reloaded",
                reason=reason,
                path=str(loaded.root),
                personas=len(loaded.personas),
                versions=loaded.version_count,
                lock_digest=loaded.lock_digest,
                previous_lock_digest=previous.lock_digest,
                labels_digest=loaded.labels_digest,
                seconds=round(time.perf_counter() - started, 3),
            )
            return True

    def _load(self) -> Registry:
        return load_snapshot(self.root, cache_dir=self.cache_dir)

    def _failed(self, reason: str, summary: str, problems: list[str]) -> None:
        self.state = ReloadState(loaded_at=self.state.loaded_at, error=summary)
        self._counted("failed")
        log.error(
            "registry reload failed; still serving the last good registry",
            reason=reason,
            error=summary,
            problems=problems[:MAX_LOGGED_PROBLEMS],
            lock_digest=self.current.lock_digest,
        )

    async def watch(self, every: float) -> None:
        """Poll the fingerprint every `every` seconds; reload when it changed."""
        while True:
            await asyncio.sleep(every)
            try:
                seen = await asyncio.to_thread(self._fingerprint_or_none)
                if seen is not None and seen != self._seen:
                    await self.reload("changed on disk")
            except Exception as exc:  # the watch must outlive any one bad poll
                log.error("registry poll failed", error_type=type(exc).__name__, error=str(exc))

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
