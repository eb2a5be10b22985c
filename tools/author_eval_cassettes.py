"""Author `cassettes/eval/` — the exchanges offline `attache eval` replays — without a real provider.

    make eval-cassettes            # every desk
    python -m tools.author_eval_cassettes jp-01

For each desk, `attache eval DESK --judge --record cassettes/eval` runs every version over
the desk's suites through the real code path (registry, rendering, instructor, the openai
SDK, the retry policy), against the stand-in provider on 127.0.0.1, whose answers are the
authored ones in `tools/eval_answers.py`: it recognises each request by the prompt it
carries (the desk, the version, the news item; the judge by the assessment it is shown)
and answers the first attempt, the re-ask and the judge's rubric accordingly. What crossed
the wire is what the cassettes hold; each file says in its first line that it was authored.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from typing import Any

from schemas import Assessment
from service.assessment.prepare import prepare
from service.assessment.request import AssessRequest
from service.cli.eval import eval_command
from service.eval.judge import assessment_text
from service.eval.run import DEFAULT_CASSETTES
from service.eval.suite import Item, load_suites
from service.registry import Registry, load_registry
from service.registry.load import EVALS_DIR
from service.registry.quarantine import neutralise
from service.settings import DEFAULT_REGISTRY_DIR, Settings
from tools import eval_answers
from tools.standin import Received, Reply, StandIn

DESKS = ("au-01", "cn-01", "eu-01", "in-01", "jp-01", "kr-01", "us-01")


class Answers:
    """The stand-in's responder: which desk, version and item a request is about, and its authored answer."""

    def __init__(self, registry: Registry, desk: str) -> None:
        self.registry = registry
        self.persona = registry.personas[desk]
        self.items = [item for suite in load_suites(self.persona.path / EVALS_DIR) for item in suite.items]
        self.prompts: dict[tuple[str, str], tuple[str, Item]] = {}
        for version in self.persona.versions:
            for item in self.items:
                rendered = prepare(_request(desk, version, item), registry=registry, settings=Settings()).rendered
                self.prompts[(rendered.system, rendered.user)] = (version, item)

    def __call__(self, received: Received) -> Reply:
        request: dict[str, Any] = received.json()
        system, user = (m["content"] for m in request["messages"][:2])
        if system.startswith("You are QA-01"):
            version, item = self._judged(user)
            scores = eval_answers.rubric(self.persona, item, eval_answers.answer(self.persona.id, item.id, version))
            return self._reply(request, scores, tool="Rubric")
        version, item = self.prompts[(system, user)]
        reasked = len(request["messages"]) > 2
        bad = None if reasked else eval_answers.first_attempt(self.persona.id, item.id, version)
        return self._reply(request, bad or eval_answers.answer(self.persona.id, item.id, version))

    def _judged(self, user: str) -> tuple[str, Item]:
        """The answer the judge is shown: the item whose text it quotes, the version whose whole answer."""
        for item in self.items:
            if neutralise(item.context) not in user:
                continue
            for version in self.persona.versions:
                answer = Assessment.model_validate(eval_answers.answer(self.persona.id, item.id, version))
                if neutralise(assessment_text(answer)) in user:
                    return version, item
        raise LookupError("the judge was shown an answer no authored item matches")

    def _reply(self, request: dict[str, Any], arguments: Any, tool: str = "Assessment") -> Reply:
        call_id = "call_" + hashlib.sha256(repr((request["messages"], tool)).encode()).hexdigest()[:16]
        return Reply.completion(
            arguments,
            model=request["model"],
            usage=eval_answers.usage(request, arguments),
            call_id=call_id,
            tool=tool,
        )


def _request(desk: str, version: str, item: Item) -> AssessRequest:
    return AssessRequest(
        agent=f"{desk}@{version}",
        context=item.context,
        question=item.question,
        source=item.source,
        as_of=item.as_of,
    )


def author(desk: str, registry: Registry) -> int:
    target = DEFAULT_CASSETTES / desk
    shutil.rmtree(target, ignore_errors=True)
    with StandIn(responder=Answers(registry, desk)) as provider, tempfile.TemporaryDirectory() as out:
        os.environ.update(
            OPENAI_BASE_URL=provider.base_url,
            OPENAI_API_KEY="sk-authoring-not-a-real-key",
            ATTACHE_CACHE_DIR="off",
        )
        os.environ.pop("ATTACHE_LLM_MODEL", None)
        args = [desk, "--judge", "--record", str(DEFAULT_CASSETTES), "--concurrency", "1", "--out", out]
        try:
            eval_command.main(args, standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
        calls = len(provider.received)
    print(f"{desk}: {calls} exchanges recorded in {target}")
    return 0


def main(desks: list[str]) -> int:
    registry = load_registry(DEFAULT_REGISTRY_DIR)
    failed = [desk for desk in desks or DESKS if author(desk, registry)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
