"""`attache registry diff`: what changed between two versions of a persona's prompt."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

import msgspec
import yaml

from service.registry.model import PromptVersion

TEMPLATE_PARTS = ("system", "user")


def _config_text(prompt: PromptVersion) -> list[str]:
    config = {k: v for k, v in msgspec.to_builtins(prompt.spec).items() if k not in TEMPLATE_PARTS}
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100).splitlines(keepends=True)


def diff_versions(old: PromptVersion, new: PromptVersion) -> Iterator[str]:
    """Unified diffs of the config and of each template, then a plain verdict on the output schema."""
    label = f"{old.persona_id}@{{}}"
    yield from difflib.unified_diff(
        _config_text(old),
        _config_text(new),
        fromfile=f"{label.format(old.version)} config",
        tofile=f"{label.format(new.version)} config",
    )
    for part in TEMPLATE_PARTS:
        yield from difflib.unified_diff(
            getattr(old.spec, part).splitlines(keepends=True),
            getattr(new.spec, part).splitlines(keepends=True),
            fromfile=f"{label.format(old.version)} {part} template",
            tofile=f"{label.format(new.version)} {part} template",
        )
    if old.spec.output != new.spec.output:
        yield (
            f"OUTPUT SCHEMA CHANGED: {old.spec.output} -> {new.spec.output}; "
            "callers that parse the assessment must update before moving to this version.\n"
        )
    else:
        yield f"Output schema unchanged: {new.spec.output}.\n"
