"""The model provider: one shared `AsyncOpenAI` client, instructor on top, one retry policy.

Any OpenAI-compatible endpoint works (OpenAI, Azure OpenAI's v1 API, vLLM, Ollama,
llama.cpp) through `OPENAI_BASE_URL` and `OPENAI_API_KEY`. Every provider HTTP call goes
through `ModelProvider._call`, which applies the transport retries of `service.provider.retry`,
records each call (tokens, outcome, latency) for the envelope and the metrics, and turns a
truncated, refused or empty completion into its own final error before instructor sees it.
In the constrained modes it also puts the constrained schema dialect (`schemas.dialects`) in
the request, and it does not send a re-ask the model's context window cannot hold.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import Any, TypeVar

import httpx2
import instructor
import msgspec
import openai
from instructor.core.exceptions import IncompleteOutputException, InstructorRetryException
from instructor.processing.function_calls import openai_schema
from openai.types.chat import ChatCompletion
from pydantic import BaseModel

from schemas.dialects import constrained_schema
from service.errors import (
    PROVIDER_NOT_CONFIGURED,
    AttacheError,
    InvalidModelOutput,
    OutputTruncated,
    ProviderNotConfigured,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from service.logs import get_logger
from service.metrics import metrics, provider_name
from service.provider import ModelRequest
from service.provider.calls import CallLog, ModelAnswer, ModelLabels, ProviderCall, reported_model
from service.provider.context_window import reask_tokens
from service.provider.errors import NOT_A_COMPLETION, check, explain, outcome_of, truncated_detail
from service.provider.modes import CONSTRAINED_MODES, MODES, constrained_format
from service.provider.retry import transport_retrying
from service.settings import Settings

T = TypeVar("T", bound=BaseModel)
logger = get_logger("attache.provider")


def _check_validators_once() -> None:
    """instructor walks the whole response model on every call to refuse async validators.

    The answer depends only on the model class, so it is remembered per class (a failing
    check is not cached: it raises again). About a third of our per-assessment CPU, measured
    with cProfile against the stand-in. instructor's modules import the function by name,
    so every already-imported binding of it is replaced, not only the defining module's.
    If instructor moves the function, nothing is patched.
    """
    try:
        from instructor.v2.validation import async_validators
    except ImportError:  # pragma: no cover - a future instructor layout
        return
    original = async_validators.reject_async_validators
    if hasattr(original, "cache_info"):
        return
    cached = functools.cache(original)
    for name, module in list(sys.modules.items()):
        if name.startswith("instructor") and getattr(module, "reject_async_validators", None) is original:
            module.reject_async_validators = cached  # type: ignore[attr-defined]


_check_validators_once()

# instructor logs every failed attempt at ERROR with the provider's message; we log each
# call ourselves, with the fields we choose, so its own records are kept out of the output.
logging.getLogger("instructor").setLevel(logging.CRITICAL)


_current_log: ContextVar[CallLog] = ContextVar("attache_call_log")


class ModelProvider:
    def __init__(self, settings: Settings, *, known_models: Iterable[str] = ()) -> None:
        """`known_models` (the registry's) may become metric labels as a provider reports them."""
        if not settings.provider_configured:
            raise ProviderNotConfigured(PROVIDER_NOT_CONFIGURED)
        self.settings = settings
        self.provider_name = provider_name(settings.openai_base_url)
        self.model_labels = ModelLabels(settings, known_models)
        self._tool_models: dict[type[BaseModel], type[BaseModel]] = {}
        pool = settings.max_inflight
        self.client = openai.AsyncOpenAI(
            api_key=settings.openai_api_key or "not-needed",
            base_url=settings.openai_base_url,
            max_retries=0,  # service.provider.retry owns retries
            timeout=settings.llm_timeout,
            # aiohttp's pool, sized to the in-flight bound: httpx2's pool scans every connection
            # on each request (~30 % of CPU at 256 in flight, py-spy); the SDK supports both.
            http_client=openai.DefaultAioHttpClient(
                limits=httpx2.Limits(max_connections=pool, max_keepalive_connections=pool)
            ),
        )
        self._strict_tools = settings.llm_mode == "tools_strict"
        self._constrained = settings.llm_mode in CONSTRAINED_MODES
        self._create: Callable[..., Awaitable[Any]] = instructor.patch(create=self._call, mode=MODES[settings.llm_mode])

    def warm_up(self, response_models: list[type[BaseModel]]) -> None:
        """Build at start-up what the first call would: instructor's tool schema per response model.

        Without it the first assessment of every worker pays that time on the event loop,
        stalling every other request the worker holds.
        """
        for model in response_models:
            self._tool_model(model)
            if self._constrained:
                constrained_schema(model)

    def _tool_model(self, model: type[T]) -> type[T]:
        """instructor's schema-carrying subclass of `model`, built once.

        Given a plain model, instructor rebuilds this class and its JSON Schema on every call
        (about 6 ms of CPU per assessment, measured); given the subclass, it reuses it.
        """
        if model not in self._tool_models:
            wrapped = openai_schema(model)
            _ = wrapped.openai_schema  # type: ignore[attr-defined]  # build the schema now
            self._tool_models[model] = wrapped
        return self._tool_models[model]  # type: ignore[return-value]

    async def close(self) -> None:
        await self.client.close()

    async def complete(self, request: ModelRequest) -> ModelAnswer:
        """One validated answer, or the AttacheError that explains why there is none."""
        loop = asyncio.get_running_loop()
        log = CallLog(
            deadline=loop.time() + self.settings.llm_timeout,
            agent=request.agent,
            version=request.version,
            schema=constrained_schema(request.response_model) if self._constrained else None,
        )
        token = _current_log.set(log)
        try:
            async with asyncio.timeout_at(log.deadline):
                output = await self._create(
                    model=self.settings.llm_model or request.model,
                    messages=[{"role": "system", "content": request.system}, {"role": "user", "content": request.user}],
                    response_model=self._tool_model(request.response_model),
                    max_retries=self.settings.llm_reasks,
                    temperature=request.temperature,
                    max_tokens=request.max_tokens,
                )
        except TimeoutError:
            raise UpstreamTimeout(
                f"no valid answer within the {self.settings.llm_timeout:g} s deadline",
                attempts=log.attempts,
            ) from None
        except IncompleteOutputException:
            raise OutputTruncated(truncated_detail(request.max_tokens), attempts=log.attempts) from None
        except InstructorRetryException as exc:
            raise explain(exc, log) from None
        finally:
            _current_log.reset(token)
        return ModelAnswer(output=output, model=log.response_model or self.settings.llm_model or request.model, log=log)

    async def _call(self, **kwargs: Any) -> ChatCompletion:
        log = _current_log.get()
        model = str(kwargs.get("model"))
        if self._strict_tools:  # copies: instructor caches the tool schema it hands us
            kwargs["tools"] = [{**tool, "function": {**tool["function"], "strict": True}} for tool in kwargs["tools"]]
        if log.schema is not None:
            kwargs["response_format"] = constrained_format(self.settings.llm_mode, kwargs, log.schema)
        self._check_reask_fits(log, kwargs)
        async for attempt in transport_retrying(self.settings.llm_transport_retries, log.deadline):
            with attempt:
                started = time.perf_counter()
                try:
                    completion = await self._post(kwargs)
                except openai.APIError as exc:
                    self._record(log, ProviderCall(time.perf_counter() - started, outcome_of(exc), model))
                    raise
                except asyncio.CancelledError:
                    self._record(log, ProviderCall(time.perf_counter() - started, "upstream_timeout", model))
                    raise
                except Exception as exc:  # the SDK could not even read the body (malformed JSON, ...)
                    self._record(log, ProviderCall(time.perf_counter() - started, "upstream_unavailable", model))
                    raise UpstreamUnavailable(NOT_A_COMPLETION) from exc
                if not isinstance(completion, ChatCompletion):  # e.g. an HTML page with status 200
                    self._record(log, ProviderCall(time.perf_counter() - started, "upstream_unavailable", model))
                    raise UpstreamUnavailable(NOT_A_COMPLETION)
                answer: ChatCompletion = completion
        completion = answer
        seconds = time.perf_counter() - started
        usage = completion.usage
        call = ProviderCall(
            seconds,
            "ok",
            model,
            response_model=reported_model(completion.model),
            input_tokens=usage.prompt_tokens if usage else 0,
            output_tokens=usage.completion_tokens if usage else 0,
        )
        log.answered_messages = len(kwargs["messages"])
        try:
            check(completion, kwargs.get("max_tokens"))
        except AttacheError as exc:
            call.outcome = exc.code
            raise
        finally:
            self._record(log, call)
        return completion

    def _check_reask_fits(self, log: CallLog, kwargs: dict[str, Any]) -> None:
        """Refuse to send a re-ask that the model's context window cannot hold (service.provider.context_window)."""
        window = self.settings.llm_context_tokens
        answered = [call for call in log.calls if call.outcome == "ok"]
        if not window or not answered:
            return
        needed = reask_tokens(
            previous_input=answered[-1].input_tokens,
            previous_output=answered[-1].output_tokens,
            new_messages=kwargs["messages"][log.answered_messages :],
        ) + int(kwargs.get("max_tokens") or 0)
        if needed > window:
            raise InvalidModelOutput(
                "the model's output failed the assessment schema, and a re-ask would not fit in the model's "
                f"context window ({needed} of {window} tokens with the output limit); not re-asked",
                attempts=log.attempts,
            )

    async def _post(self, body: dict[str, Any]) -> Any:
        """`chat.completions.create`, minus the SDK's per-call walk of the request parameters.

        `create` runs every body through its TypedDict transform (aliases, dates, files) and
        stdlib JSON; for our bodies (strings, numbers and the prebuilt tool schema) the
        transform changes nothing and cost ~20 % of the service's CPU per assessment
        (py-spy). The request still goes through the SDK's client: auth, base URL, timeout,
        error mapping and the `ChatCompletion` parse. The tests of `provider.client` check the
        transform is a no-op for every body we send, in every mode.
        """
        return await self.client.post("/chat/completions", cast_to=ChatCompletion, content=msgspec.json.encode(body))

    def _record(self, log: CallLog, call: ProviderCall) -> None:
        """Count one provider call, once: in the assessment's log, the metrics and the JSON log."""
        log.calls.append(call)
        response_label = self.model_labels.of(call.response_model) if call.response_model else ""
        labels = ("chat", self.provider_name, call.request_model, response_label)
        m = metrics()
        m.operation_duration.labels(*labels, "" if call.outcome == "ok" else call.outcome).observe(call.seconds)
        if call.outcome == "ok" or call.input_tokens or call.output_tokens:
            m.token_usage.labels(*labels, "input").observe(call.input_tokens)
            m.token_usage.labels(*labels, "output").observe(call.output_tokens)
            model = response_label or call.request_model
            m.tokens.labels(log.agent, log.version, model, "input").inc(call.input_tokens)
            m.tokens.labels(log.agent, log.version, model, "output").inc(call.output_tokens)
        logger.info(
            "model call",
            attempt=log.attempts,
            outcome=call.outcome,
            request_model=call.request_model,
            response_model=call.response_model,
            latency_ms=round(call.seconds * 1000, 1),
            input_tokens=call.input_tokens,
            output_tokens=call.output_tokens,
        )
