"""Structured JSON lines on stdout, one object per line, for our logs and every library's.

structlog renders our events; the standard library's records (uvicorn, Litestar, httpx) go
through the same processors, so an SRE parses one format. Chatty libraries are held at
WARNING: their per-request INFO lines would duplicate ours.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from service.settings import LogLevel

# instructor stays at CRITICAL (service.provider): its errors quote the provider's messages.
QUIET_LIBRARIES = ("httpx", "httpx2", "openai", "uvicorn.access", "vcr")

_SHARED: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.processors.TimeStamper(fmt="iso", utc=True, key="time"),
]


class _CurrentStdout:
    """Whatever `sys.stdout` is when a line is written (test capture and redirection included)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def configure_logging(level: LogLevel, stream: TextIO | None = None) -> None:
    """JSON lines to stdout, or to `stream` (stderr for commands whose stdout is their output)."""
    numeric = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream or _CurrentStdout())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=_SHARED,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(ensure_ascii=False),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "litestar"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(name)
    return logger
