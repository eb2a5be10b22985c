"""`Accept: text/markdown` shows the model's text as text: no link, image or HTML survives.

The model's output is not trusted (a news item can talk it into writing markup). The
general property, over generated text (hypothesis) in every field of the assessment: the
Markdown, parsed as GitHub-flavoured Markdown with autolinks (markdown-it-py, `gfm-like`
with linkify), holds no link, image, autolink or raw HTML, and renders back to exactly the
text the model wrote.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.token import Token

from schemas import Assessment
from service.assessment.markdown import render_markdown
from service.registry import load_registry
from service.settings import DEFAULT_REGISTRY_DIR
from tools.scenarios import assessment

PERSONA = load_registry(DEFAULT_REGISTRY_DIR).persona("jp-01")
SAMPLE = assessment("jp-01-us-japan-critical-minerals")
MARKUP = [
    "[click](https://evil.example/x)", "![img](https://evil.example/p.png)", "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>", "<https://evil.example>", "https://evil.com/path", "www.evil.com",
    "mail me@evil.com", "[ref]: https://evil.example", "&lt;b&gt;", "`code`", "*em* _em_ ~~del~~", "\\", "|a|b|",
    "<!-- hidden -->", "javascript:alert(1)", "[x][ref]",
]  # fmt: skip
WORDS = ["Tokyo", "rare earths", "—", "堕落論"]
# A line of text, as a field holds it: markup fragments between ordinary words.
text = st.lists(st.sampled_from(MARKUP) | st.sampled_from(WORDS), min_size=1, max_size=3).map(" ".join)
FORBIDDEN = {"link_open", "image", "html_inline", "html_block"}
PARSER = MarkdownIt("gfm-like")
assert PARSER.linkify is not None, "linkify-it-py is installed (markdown-it-py[linkify])"
PARSER.linkify.set({"fuzzy_link": False})  # as GitHub: scheme, www. and e-mail autolinks only


def walk(tokens: list[Token]) -> list[Token]:
    found: list[Token] = []
    for token in tokens:
        found.append(token)
        found.extend(walk(token.children or []))
    return found


def plain(tokens: list[Token]) -> str:
    return "".join(t.content for t in walk(tokens) if t.type in ("text", "code_inline"))


@settings(max_examples=100, deadline=None)
@given(fields=st.fixed_dictionaries({"title": text, "lead": text, "point": text, "detail": text, "author": text}))
def test_model_markup_is_shown_as_text(fields: dict[str, str]) -> None:
    answer: dict[str, Any] = copy.deepcopy(SAMPLE)
    answer["title"] = fields["title"]
    answer["sections"][0]["lead"] = fields["lead"]
    answer["sections"][1]["points"][0] = fields["point"]
    answer["outlook"][0]["detail"] = fields["detail"]
    answer["literary_echo"]["author"] = fields["author"]
    markdown = render_markdown(Assessment.model_validate(answer), PERSONA)
    tokens = PARSER.parse(markdown)
    kinds = {token.type for token in walk(tokens)}
    assert not kinds & FORBIDDEN, (kinds & FORBIDDEN, markdown[:400])
    shown = plain(tokens)
    for value in fields.values():
        assert value.strip() in shown, value


def test_the_sample_still_reads_as_the_sample() -> None:
    markdown = render_markdown(Assessment.model_validate(SAMPLE), PERSONA)
    assert markdown.startswith("# 🇯🇵 JP-01 Assessment: Strategic Layers of the U.S.–Japan Critical Minerals Accord")
    assert "— Ango Sakaguchi, _Discourse on Decadence (堕落論)_ (1946)" in markdown
