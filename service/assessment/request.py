"""What a caller sends to `POST /assess`: the request body, checked by msgspec before anything runs."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import msgspec

# Caller text is plain text: no C0 controls but tab, newline and carriage return, no DEL, no
# C1 controls. In the schema, so msgspec rejects them (400) and the OpenAPI document says so.
PLAIN_TEXT = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"


class AssessRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    agent: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=100,
            description="`jp-01`, `jp-01@1.0.0` or `jp-01@stable`; without a version or label, `stable`.",
            examples=["jp-01", "jp-01@1.0.0", "jp-01@canary"],
        ),
    ]
    context: Annotated[
        str,
        msgspec.Meta(min_length=1, pattern=PLAIN_TEXT, description="The news excerpt to assess, verbatim; plain text."),
    ]
    version: (
        Annotated[str, msgspec.Meta(max_length=100, description="A version or label; must agree with an `@` suffix.")]
        | None
    ) = None
    question: (
        Annotated[
            str,
            msgspec.Meta(
                min_length=1,
                max_length=2000,
                pattern=PLAIN_TEXT,
                description="Defaults to the prompt version's question.",
            ),
        ]
        | None
    ) = None
    source: (
        Annotated[str, msgspec.Meta(max_length=200, pattern=PLAIN_TEXT, description="Where the excerpt comes from.")]
        | None
    ) = None
    as_of: Annotated[dt.date | None, msgspec.Meta(description="The date the assessment treats as today.")] = None
