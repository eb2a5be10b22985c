"""Whether a re-ask fits in the model's context window (`ATTACHE_LLM_CONTEXT_TOKENS`).

A re-ask sends the whole conversation again, plus the model's rejected answer and the
validation errors, and asks for a whole new answer. Its size is counted from what the
provider reported for the previous call (prompt and output tokens, exact), plus the UTF-8
bytes of every other new message (no tokenizer makes more tokens than bytes), plus a few
tokens per message for the chat template. When that and `max_tokens` exceed the window,
the re-ask is not sent: the provider would refuse it, or cut the new answer off.
"""

from __future__ import annotations

from typing import Any

import msgspec

# Role markers and separators a chat template wraps each message in (ChatML: 5 tokens).
MESSAGE_OVERHEAD = 8


def reask_tokens(*, previous_input: int, previous_output: int, new_messages: list[dict[str, Any]]) -> int:
    """An upper bound on the prompt tokens of a re-ask that adds `new_messages` to the previous call."""
    total = previous_input
    for message in new_messages:
        if message.get("role") == "assistant":  # the previous answer, sent back
            total += previous_output + MESSAGE_OVERHEAD
        else:
            total += len(msgspec.json.encode(message.get("content"))) + MESSAGE_OVERHEAD
    return total
