"""Charts drawn into the report itself: inline SVG, no script, no font or file fetched from anywhere.

One horizontal bar per version (the baseline in grey), the value written at the bar's end
and, for the others, the difference from the baseline coloured by whether it is better.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from service.eval.measures import Measure, format_value

WIDTH = 520
LABEL_WIDTH = 150
BAR_HEIGHT = 18
GAP = 8
VALUE_ROOM = 150
BASELINE_COLOUR = "#9aa5b1"
VERSION_COLOUR = "#2f6fb3"
BETTER, WORSE, SAME = "#1e7b34", "#b42318", "#5f6b7a"


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float | None
    baseline: bool = False


def bar_chart(measure: Measure, bars: list[Bar], baseline: float | None) -> str:
    """An SVG bar chart of one measure across versions."""
    scale = _scale(measure, [b.value for b in bars])
    height = len(bars) * (BAR_HEIGHT + GAP) + GAP
    track = WIDTH - LABEL_WIDTH - VALUE_ROOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="100%" viewBox="0 0 {WIDTH} {height}" '
        f'aria-label="{escape(measure.label)} by version">'
    ]
    for index, bar in enumerate(bars):
        y = GAP + index * (BAR_HEIGHT + GAP)
        middle = y + BAR_HEIGHT / 2 + 4
        parts.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end" class="version">{escape(bar.label)}</text>'
        )
        parts.append(f'<rect x="{LABEL_WIDTH}" y="{y}" width="{track}" height="{BAR_HEIGHT}" class="track"/>')
        if bar.value is None:
            parts.append(f'<text x="{LABEL_WIDTH + 6}" y="{middle}" class="na">n/a</text>')
            continue
        length = max(track * min(bar.value / scale, 1.0), 1.5) if scale else 1.5
        colour = BASELINE_COLOUR if bar.baseline else VERSION_COLOUR
        parts.append(
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" fill="{colour}">'
            f"<title>{escape(bar.label)}: {escape(format_value(measure, bar.value))}</title></rect>"
        )
        text = escape(format_value(measure, bar.value))
        parts.append(f'<text x="{LABEL_WIDTH + length + 6:.1f}" y="{middle}" class="value">{text}')
        delta = None if bar.baseline else _delta(measure, bar.value, baseline)
        if delta is not None:
            words, colour = delta
            parts.append(f'<tspan dx="6" fill="{colour}">{escape(words)}</tspan>')
        parts.append("</text>")
    parts.append("</svg>")
    return "".join(parts)  # every text in it is escaped: the template marks it safe


def _scale(measure: Measure, values: list[float | None]) -> float:
    if measure.format == "share":
        return 1.0
    if measure.format == "score":
        return 5.0
    known = [v for v in values if v is not None]
    return max(known) * 1.1 if known and max(known) > 0 else 0.0


def _delta(measure: Measure, value: float, baseline: float | None) -> tuple[str, str] | None:
    if baseline is None:
        return None
    difference = value - baseline
    if abs(difference) < 1e-9:
        return "= baseline", SAME
    if measure.format == "share":
        words = f"{difference * 100:+.0f} pts"
    elif baseline:
        words = f"{difference / abs(baseline) * 100:+.0f} %"
    else:
        words = f"{difference:+.2f}"
    if measure.better is None:
        return words, SAME
    improved = difference > 0 if measure.better == "higher" else difference < 0
    return words, BETTER if improved else WORSE
