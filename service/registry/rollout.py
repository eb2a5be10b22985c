"""Gradual roll-outs: a share of a label's callers is served another version, sticky per caller.

`rollouts: {stable: {version: 1.1.0, percent: 10}}` in `persona.yaml` sends 10 % of the
callers who ask for `stable` (or for no version) to 1.1.0. Who is in the 10 % is decided by
a hash of the persona, the label, the roll-out's version and the caller's name (an HMAC of
its key, or of its address in open mode, the same on every replica), so:

- one caller sees one version throughout, on every worker and replica;
- raising the percentage only adds callers: those already on the new version stay there;
- a roll-out of another version draws a fresh sample, so the same callers are not always first.

An exact version (`jp-01@1.0.0`) is never re-routed, and a request with no caller (the
command line) is served the label's own version.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import msgspec

BUCKETS = 10_000  # percentages to two decimals

Arm = Literal["rollout", "label"]


class RolloutChoice(msgspec.Struct, frozen=True):
    """What a label's roll-out decided for this caller (`rollouts:` in `persona.yaml`)."""

    version: Annotated[str, msgspec.Meta(description="The version the label is rolling out to.")]
    percent: Annotated[float, msgspec.Meta(description="The share of the label's callers it goes to, 0–100.")]
    arm: Annotated[
        Arm,
        msgspec.Meta(
            description="`rollout`: this caller is in that share and is served `version`; `label`: it stays on the "
            "version the label points at. Sticky: the same caller gets the same arm on every request."
        ),
    ]


def bucket(persona_id: str, label: str, version: str, caller: str) -> int:
    """The caller's place, 0 … BUCKETS-1, in this roll-out's order."""
    digest = hashlib.sha256(f"{persona_id}\x00{label}\x00{version}\x00{caller}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % BUCKETS


def in_rollout(persona_id: str, label: str, version: str, percent: float, caller: str) -> bool:
    return bucket(persona_id, label, version, caller) < round(percent * BUCKETS / 100)
