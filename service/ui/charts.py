"""Bar charts as inline SVG, drawn on the server: one group of bars per date, one bar per series,
each bar carrying the figures it shows in ``data-`` attributes and a ``<title>`` tooltip."""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from .html import attrs, esc

PLOT_HEIGHT = 180
LEFT, RIGHT, TOP, BOTTOM = 72, 12, 12, 44
LABEL_SPACING = 44   # px between date labels at least
COLOURS = {"buyer": "#2b6cb0", "seller": "#c05621", "X": "#2f855a", "I": "#805ad5"}
FALLBACK = ("#4a5568", "#b7791f", "#319795", "#d53f8c")


@dataclass(frozen=True)
class Bar:
    """One bar: its series, where its top (or bottom) is on the chart's axis, the tooltip, and
    the figures it stands for (as ``data-`` attributes)."""

    series: str
    height: float
    title: str
    data: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class Axis:
    """The value range of the chart and the ticks drawn on it (value, label)."""

    low: float
    high: float
    ticks: Sequence[tuple[float, str]]


def colour(series: str, order: Sequence[str]) -> str:
    return COLOURS.get(series) or FALLBACK[order.index(series) % len(FALLBACK)]


def bar_chart(chart_id: str, groups: Sequence[tuple[str, Sequence[Bar]]], series: Sequence[str], axis: Axis,
              *, label: str) -> str:
    """A chart of ``groups`` (date label, its bars in ``series`` order) on ``axis``, with a
    legend; the SVG is as wide as its bars need, in a scrolling frame."""
    bar_width = 10 if len(groups) <= 45 else 4
    gap = 6 if len(groups) <= 45 else 2
    group_width = bar_width * max(len(series), 1) + gap
    width = LEFT + RIGHT + group_width * len(groups)
    height = TOP + PLOT_HEIGHT + BOTTOM
    span = (axis.high - axis.low) or 1.0

    def y(value: float) -> float:
        return TOP + PLOT_HEIGHT * (axis.high - max(axis.low, min(axis.high, value))) / span

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" id="{esc(chart_id)}" class="chart" role="img" '
             f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" aria-label="{esc(label)}">',
             f"<title>{esc(label)}</title>"]
    for value, text in axis.ticks:
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{width - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                     f'stroke="#d0d7de" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#444">{esc(text)}</text>')
    base = y(0.0 if axis.low <= 0 <= axis.high else axis.low)
    every = max(1, math.ceil(LABEL_SPACING / group_width))
    for i, (name, bars) in enumerate(groups):
        x0 = LEFT + i * group_width + gap / 2
        parts.append(f'<g class="group" data-date="{esc(name)}">')
        for j, bar in enumerate(bars):
            top, bottom = sorted((y(bar.height), base))
            data = {"class": "bar", "data-date": name, "data-series": bar.series, **bar.data}
            parts.append(f'<rect{attrs(data)} x="{x0 + j * bar_width:.1f}" y="{top:.1f}" '
                         f'width="{bar_width - 1}" height="{bottom - top:.1f}" '
                         f'fill="{colour(bar.series, series)}"><title>{esc(bar.title)}</title></rect>')
        parts.append("</g>")
        if i % every == 0:
            cx = x0 + group_width / 2 - gap / 2
            parts.append(f'<text class="date" x="{cx:.1f}" y="{TOP + PLOT_HEIGHT + 16}" text-anchor="middle" '
                         f'font-size="11" fill="#444">{esc(name[5:])}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{width - RIGHT}" y1="{base:.1f}" y2="{base:.1f}" '
                 f'stroke="#333" stroke-width="1"/>')
    parts.append("</svg>")
    return f'<div class="chart-frame">{"".join(parts)}</div>{legend(series)}'


def legend(series: Sequence[str]) -> str:
    items = "".join(f'<li><svg width="12" height="12" aria-hidden="true"><rect width="12" height="12" '
                    f'fill="{colour(s, series)}"/></svg> {esc(s)}</li>' for s in series)
    return f'<ul class="legend">{items}</ul>'


def symmetric_axis(largest: float, unit: str = "") -> Axis:
    """An axis from -m to m around zero, m a round number at least ``largest``, ticks at
    -m, -m/2, 0, m/2, m."""
    if largest <= 0:
        top = 1.0
    else:
        exponent = math.floor(math.log10(largest))
        top = next(step * 10.0 ** exponent for step in (1, 2, 2.5, 5, 10) if step * 10.0 ** exponent >= largest)
    ticks = [(v, f"{v:g}{unit}") for v in (-top, -top / 2, 0.0, top / 2, top)]
    return Axis(-top, top, ticks)


SHARE_AXIS = Axis(0.0, 1.0, [(v / 4, f"{v * 25}%") for v in range(5)])
