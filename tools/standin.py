"""An OpenAI-compatible stand-in provider on 127.0.0.1, scripted reply by reply.

It speaks HTTP/1.1 on raw asyncio streams (so it can also misbehave: hang, drip bytes,
close the connection) and the Chat Completions wire format. Tests push `Reply` objects;
each request takes the next one (or the default) and is recorded with its body.

    with StandIn() as provider:
        provider.push(Reply.completion(assessment_dict))
        settings = Settings(openai_base_url=provider.base_url, openai_api_key="sk-test")
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Self

REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 429: "Too Many Requests", 500: "Internal Server Error"}
REASONS |= {502: "Bad Gateway", 503: "Service Unavailable"}


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    """Seconds before the response starts."""
    drip: float | None = None
    """Seconds between single bytes of the body (a provider that trickles)."""
    close: bool = False
    """Close the connection without answering."""

    @classmethod
    def json(cls, payload: Any, status: int = 200, headers: dict[str, str] | None = None, **kwargs: Any) -> Reply:
        body = json.dumps(payload, ensure_ascii=False).encode()
        return cls(status=status, body=body, headers={"content-type": "application/json", **(headers or {})}, **kwargs)

    @classmethod
    def completion(
        cls,
        arguments: Any,
        *,
        model: str = "gpt-4o-2024-08-06",
        finish_reason: str = "tool_calls",
        refusal: str | None = None,
        usage: tuple[int, int] = (1850, 1420),
        call_id: str = "call_attache_1",
        as_content: bool = False,
        tool: str = "Assessment",
        **kwargs: Any,
    ) -> Reply:
        """A chat completion whose tool call (or, `as_content`, whose text) carries `arguments`."""
        compact = (",", ":")  # as OpenAI sends tool arguments
        text = (
            arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False, separators=compact)
        )
        message: dict[str, Any] = {"role": "assistant", "content": None, "refusal": refusal}
        if as_content:
            message["content"] = text
        elif refusal is None:
            message["tool_calls"] = [{"id": call_id, "type": "function", "function": {"name": tool, "arguments": text}}]
        return cls.json(
            {
                "id": f"chatcmpl-{call_id}",
                "object": "chat.completion",
                "created": 1761638400,
                "model": model,
                "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}],
                "usage": {
                    "prompt_tokens": usage[0],
                    "completion_tokens": usage[1],
                    "total_tokens": usage[0] + usage[1],
                },
                "system_fingerprint": "fp_attache",
            },
            **kwargs,
        )

    @classmethod
    def error(cls, status: int, message: str, kind: str, code: str | None = None, **kwargs: Any) -> Reply:
        return cls.json({"error": {"message": message, "type": kind, "param": None, "code": code}}, status, **kwargs)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class StandIn:
    def __init__(
        self, default: Reply | None = None, responder: Callable[[Received], Reply | None] | None = None
    ) -> None:
        """`responder` picks a reply from the request (None: the script, else the default)."""
        self.default = default
        self.responder = responder
        self.script: deque[Reply] = deque()
        self.received: list[Received] = []
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def __enter__(self) -> Self:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(5)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    async def _start(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _stop(self) -> None:
        assert self._server is not None
        self._server.close()
        await asyncio.sleep(0)  # let connections accepted just now start their handlers
        while tasks := [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                method, path, _ = request_line.split(" ", 2)
                headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                received = Received(method, path, headers, body)
                self.received.append(received)
                reply = self.responder(received) if self.responder else None
                if reply is None:
                    reply = self.script.popleft() if self.script else self.default
                if reply is None:
                    reply = Reply.error(500, "stand-in has no scripted reply", "server_error")
                if reply.delay:
                    await asyncio.sleep(reply.delay)
                if reply.close:
                    break
                await self._write(writer, reply)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.CancelledError:
            # Shutting down: end quietly, since asyncio logs a connection task that ends cancelled.
            pass
        finally:
            writer.close()

    async def _write(self, writer: asyncio.StreamWriter, reply: Reply) -> None:
        head = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
        headers = {"content-length": str(len(reply.body)), "connection": "keep-alive", **reply.headers}
        head += [f"{k}: {v}" for k, v in headers.items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        if reply.drip is None:
            writer.write(reply.body)
            await writer.drain()
            return
        for index in range(len(reply.body)):
            writer.write(reply.body[index : index + 1])
            await writer.drain()
            await asyncio.sleep(reply.drip)


def wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        time.sleep(0.01)


def main() -> None:
    """`python -m tools.standin --port P`: serve one assessment to every request until killed."""
    import argparse
    import signal

    from tools.scenarios import assessment

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--assessment", default="jp-01-us-japan-critical-minerals")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    args = parser.parse_args()
    standin = StandIn(default=Reply.completion(assessment(args.assessment), delay=args.delay))
    standin.port = args.port
    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(standin._serve, "127.0.0.1", args.port, backlog=1024))
    loop.add_signal_handler(signal.SIGTERM, loop.stop)
    print(f"stand-in provider on {standin.base_url}", flush=True)
    try:
        loop.run_forever()
    finally:
        server.close()
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


if __name__ == "__main__":
    main()
