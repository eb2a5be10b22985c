"""A provider on 127.0.0.1 that answers from recorded exchanges, or records them on the way through.

`attache eval --offline` points the openai SDK at it (`OPENAI_BASE_URL`), so an offline run
takes the very path a live one does — instructor, the SDK, HTTP, the retry policy — and
only the provider's answers come from `cassettes/eval/<agent>/`. A request is matched by its
model and messages (`cassettes.exchange_key`); one that matches nothing gets a 400
`cassette_miss`, which the run records as that item's outcome, and `misses` counts them.

With `upstream`, it forwards each request to the real provider and keeps the exchange
(`--record DIR`): the request's model and messages and the provider's answer, never a
header that could carry a key. Exchanges are filed by the prompt they start from
(`expect`): the runner says which file each rendered prompt belongs to before asking.
"""

from __future__ import annotations

from collections import defaultdict, deque
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web

from service.eval.cassettes import deserialize as load_cassette
from service.eval.cassettes import dump_json, exchange_key, parse_json, serialize

OPENAI_URL = "https://api.openai.com/v1/chat/completions"
FORWARDED_HEADERS = ("authorization", "api-key", "content-type", "accept", "openai-organization", "openai-project")
RECORDED_RESPONSE_HEADERS = ("content-type", "retry-after", "retry-after-ms")


class Recording:
    """Exchanges kept during a `--record` run, filed by the first two messages they start with."""

    def __init__(self, folder: Path, note: str) -> None:
        self.folder = folder
        self.note = note
        self._files: dict[str, str] = {}
        self._kept: dict[str, list[dict[str, Any]]] = defaultdict(list)

    def expect(self, system: str, user: str, file: str) -> None:
        self._files[_opening(system, user)] = file

    def keep(self, request_body: Any, status: int, headers: dict[str, str], body: bytes, upstream: str) -> None:
        messages = request_body.get("messages") or [] if isinstance(request_body, dict) else []
        first = [m.get("content") for m in messages[:2] if isinstance(m, dict)]
        file = self._files.get(_opening(*first) if len(first) == 2 else "", "unfiled")
        self._kept[file].append(
            {
                "request": {
                    "method": "POST",
                    "uri": upstream,
                    "body": dump_json(request_body),
                    "headers": {"content-type": ["application/json"]},
                },
                "response": {
                    "status": {"code": status, "message": "OK" if status == 200 else "Error"},
                    "headers": {
                        str(k).lower(): [str(v)] for k, v in headers.items() if k.lower() in RECORDED_RESPONSE_HEADERS
                    },
                    "body": {"string": body.decode("utf-8", "replace")},
                },
            }
        )

    def write(self) -> list[Path]:
        written = []
        for file, interactions in sorted(self._kept.items()):
            path = self.folder / f"{file}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = serialize({"version": 1, "interactions": interactions})
            path.write_text(f"# {self.note}\n{text}", encoding="utf-8")
            written.append(path)
        return written


def _opening(system: Any, user: Any) -> str:
    return exchange_key({"messages": [system, user]})


class CassetteProvider:
    """Serve recorded exchanges (`cassettes`), or forward to `upstream` and record (`recording`)."""

    def __init__(
        self,
        cassettes: Path | None = None,
        *,
        upstream: str | None = None,
        recording: Recording | None = None,
    ) -> None:
        self.exchanges: dict[str, deque[dict[str, Any]]] = defaultdict(deque)
        self.files = sorted(cassettes.rglob("*.yaml")) if cassettes is not None and cassettes.is_dir() else []
        for path in self.files:
            for interaction in load_cassette(path.read_text(encoding="utf-8"))["interactions"]:
                key = exchange_key(parse_json(interaction["request"].get("body")))
                self.exchanges[key].append(interaction["response"])
        self.upstream = upstream.rstrip("/") if upstream else None
        self.recording = recording
        self.misses = 0
        self.served = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._answer)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        if self.upstream:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        body = parse_json(raw)
        if self.upstream is not None:
            return await self._forward(request, raw, body)
        recorded = self.exchanges.get(exchange_key(body))
        if not recorded:
            self.misses += 1
            message = "no recorded exchange matches this prompt (model and messages); record it with --record"
            error = {"error": {"message": message, "type": "invalid_request_error", "code": "cassette_miss"}}
            return web.json_response(error, status=400)
        response = recorded[0]
        if len(recorded) > 1:  # the same prompt asked again: the next recording, then the last one again
            recorded.popleft()
        self.served += 1
        headers = {k: v[0] for k, v in response.get("headers", {}).items() if v}
        headers.setdefault("content-type", "application/json")
        return web.Response(
            status=response["status"]["code"], body=response["body"]["string"].encode(), headers=headers
        )

    async def _forward(self, request: web.Request, raw: bytes, body: Any) -> web.StreamResponse:
        assert self._session is not None  # noqa: S101 - opened with `upstream`
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED_HEADERS}
        url = f"{self.upstream}/chat/completions"
        async with self._session.post(url, data=raw, headers=headers) as upstream:
            answer = await upstream.read()
            status = upstream.status
            answered = dict(upstream.headers.items())
        if self.recording is not None:
            host = urlsplit(url).hostname or ""
            self.recording.keep(
                body, status, answered, answer, OPENAI_URL if host in ("127.0.0.1", "localhost") else url
            )
        self.served += 1
        kept = {k: v for k, v in answered.items() if k.lower() in RECORDED_RESPONSE_HEADERS}
        return web.Response(status=status, body=answer, headers=kept)
