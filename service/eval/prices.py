"""The price table: US dollars per million input and output tokens, by model.

The built-in table holds OpenAI's list prices for the models the registry names (as of
2025); `--prices FILE` replaces it with the user's own (negotiated rates, another provider,
a local model at 0):

    gpt-4o-2024-08-06: {input: 2.50, output: 10.00}
    qwen2.5:14b: {input: 0, output: 0}

A model the table does not name has no cost (shown as unknown, never as 0). A model name
the provider reports with a date suffix (`gpt-4o-mini-2024-07-18`) is priced as its
undated entry when only that is listed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import msgspec

from service.registry.yamlfile import Problem, decode

Dollars = Annotated[float, msgspec.Meta(ge=0)]


class Price(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    input: Dollars
    """Per million input tokens."""
    output: Dollars
    """Per million output tokens."""


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-2024-08-06": Price(2.50, 10.00),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
}
_DATE_SUFFIX = re.compile(r"-\d{4}-\d{2}-\d{2}$")


class PricesInvalid(Exception):
    pass


class PriceTable:
    def __init__(self, prices: dict[str, Price], source: str) -> None:
        self.prices = prices
        self.source = source

    @classmethod
    def default(cls) -> PriceTable:
        return cls(dict(DEFAULT_PRICES), "built-in (OpenAI list prices, 2025)")

    @classmethod
    def from_file(cls, path: Path) -> PriceTable:
        problems: list[Problem] = []
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise PricesInvalid(f"{path}: cannot be read ({exc})") from None
        prices = decode(path, text, dict[str, Price], problems)
        if prices is None:
            raise PricesInvalid("\n".join(str(p) for p in problems))
        return cls(prices, str(path))

    def price(self, model: str) -> Price | None:
        return self.prices.get(model) or self.prices.get(_DATE_SUFFIX.sub("", model))

    def cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        price = self.price(model)
        if price is None:
            return None
        return (input_tokens * price.input + output_tokens * price.output) / 1_000_000
