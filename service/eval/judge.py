"""The judge: a persona with `role: judge` scores one assessment of one news item (`schemas.rubric`).

It is a registry persona like any desk — versioned, locked, its prompt diffable — asked
through the same provider path as an assessment. It reads the news item and the desk's
assessment as plain text; both are caller-grade material to its template (neutralised,
inside quarantine blocks), never instructions.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas import Assessment, Rubric
from service.errors import InvalidRequest
from service.eval.suite import Item
from service.provider import Completer, ModelRequest
from service.registry import Persona, PromptVersion, Registry, RenderedPrompt
from service.registry.reference import AgentReference


@dataclass(frozen=True, slots=True)
class Judge:
    persona: Persona
    prompt: PromptVersion

    @property
    def ref(self) -> str:
        return f"{self.persona.id}@{self.prompt.version}"


def find_judge(registry: Registry, ref: str | None) -> Judge:
    """`qa-01`, `qa-01@1.0.0`, or None for the registry's only judge persona (at `stable`)."""
    if ref is None:
        judges = [p for p in registry.personas.values() if p.spec.role == "judge"]
        if len(judges) != 1:
            names = ", ".join(p.id for p in judges) or "none"
            raise InvalidRequest(f"name the judge persona with --judge ID[@VERSION]; judge personas: {names}")
        ref = judges[0].id
    resolution = registry.resolve(AgentReference.parse(ref))
    persona, prompt = resolution.persona, resolution.prompt
    if persona.spec.role != "judge":
        raise InvalidRequest(f"{persona.id} is a {persona.spec.role} persona, not a judge (`role: judge`)")
    return Judge(persona, prompt)


def assessment_text(assessment: Assessment) -> str:
    """The assessment as plain text, in reading order, for the judge to read."""
    lines = [f"TITLE: {assessment.title}", f"BOTTOM LINE: {assessment.bottom_line}", ""]
    for number, section in enumerate(assessment.sections, start=1):
        lines += [f"{number}. {section.icon} {section.heading}", section.lead]
        lines += [f"- {point}" for point in section.points]
        lines += [f"Takeaway: {section.takeaway}", ""]
    lines.append("FORWARD OUTLOOK")
    lines += [f"- {f.headline} ({f.horizon}; {f.likelihood}): {f.detail}" for f in assessment.outlook]
    echo = assessment.literary_echo
    year = f", {echo.year}" if echo.year is not None else ""
    lines += [
        "",
        f"CLOSING: {assessment.closing}",
        f"LITERARY ECHO ({echo.language}): {echo.original} — {echo.translation} ({echo.author}, {echo.work}{year})",
    ]
    return "\n".join(lines)


def judge_prompt(judge: Judge, item: Item, desk: Persona, assessment: Assessment) -> RenderedPrompt:
    values = {
        "context": item.context,
        "assessment": assessment_text(assessment),
        "desk": f"{desk.spec.callsign}, {desk.spec.name}",
        "question": item.question,
        "source": item.source,
        "as_of": item.as_of.isoformat() if item.as_of else None,
    }
    declared = judge.prompt.variables
    return judge.prompt.render(judge.persona, {k: v for k, v in values.items() if v is not None and k in declared})


async def score(judge: Judge, rendered: RenderedPrompt, provider: Completer) -> tuple[Rubric, int]:
    """The judge's rubric and the provider calls it took; an AttacheError when there is none."""
    answer = await provider.complete(ModelRequest.of(judge.persona, judge.prompt, rendered, Rubric))
    assert isinstance(answer.output, Rubric)  # noqa: S101 - the response model asked for
    return answer.output, answer.log.attempts
