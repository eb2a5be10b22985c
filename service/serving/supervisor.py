"""`attache serve --workers N`: uvicorn's worker supervisor, with SIGHUP meaning "reload the registry".

uvicorn's own supervisor answers SIGHUP by replacing every worker, one at a time (a restart:
in-flight and async work drained, caches and per-worker limits lost, ~2 s per worker). What
an operator means by SIGHUP to a server is "reload your configuration", as nginx does; here,
the configuration is the registry. So the supervisor forwards the signal to each worker,
whose app reloads the registry in place (`service.lifecycle.Services.watch_sighup`). Everything else —
SIGTERM's drain, replacing a worker that died, SIGTTIN/SIGTTOU — is uvicorn's.

A worker is signalled only once it is serving: before its app installs the handler, SIGHUP
would end it. One still starting gets the signal as soon as it is ready (its registry may
have been loaded before the change), checked on the supervisor's own 0.5 s beat.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket

from uvicorn import Config
from uvicorn.supervisors import Multiprocess

from service.logs import get_logger

log = get_logger("attache.supervisor")
READY_TIMEOUT = 1.0


class Supervisor(Multiprocess):
    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self.owed_sighup: set[int] = set()

    def handle_hup(self) -> None:
        self.owed_sighup = {p.pid for p in self.processes if p.pid is not None and p.process.is_alive()}
        log.info("SIGHUP: reloading the registry in every worker", workers=sorted(self.owed_sighup))
        self.forward_sighup()

    def keep_subprocess_alive(self) -> None:
        super().keep_subprocess_alive()
        if self.owed_sighup:
            self.forward_sighup()

    def forward_sighup(self) -> None:
        for process in self.processes:
            pid = process.pid
            if pid not in self.owed_sighup or not process.is_ready(timeout=READY_TIMEOUT):
                continue
            # One that died just now is replaced by uvicorn, and the replacement loads the registry afresh.
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGHUP)
            self.owed_sighup.discard(pid)
        self.owed_sighup &= {p.pid for p in self.processes if p.process.is_alive()}


def run_workers(config: Config) -> None:
    """What `uvicorn.run` does for `workers > 1`, with this supervisor."""
    Supervisor(config, sockets=[config.bind_socket()]).run()
