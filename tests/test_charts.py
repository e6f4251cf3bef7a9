"""The SVG chart module on its own: nice ticks, unit formatting, series, tooltips, gaps."""

from __future__ import annotations

import html5lib
import pytest

from agentperf.report.svg import (
    MAX_TIPS,
    ForestRow,
    Marker,
    Series,
    Strip,
    bar_chart,
    forest_chart,
    format_tick,
    format_value,
    histogram_chart,
    line_chart,
    nice_ticks,
    scaled_ticks,
    strip_chart,
)

SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 97, [0, 20, 40, 60, 80, 100]),
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0.013, 0.061, [0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07]),
        (-3, 7, [-4, -2, 0, 2, 4, 6, 8]),
        (5, 5, [5, 6, 7, 8, 9, 10]),
        (0, 12, [0, 2.5, 5, 7.5, 10, 12.5]),
    ],
)
def test_nice_ticks_are_round_and_cover_the_range(
    low: float, high: float, expected: list[float]
) -> None:
    ticks = nice_ticks(low, high)
    assert ticks == pytest.approx(expected)
    assert ticks[0] <= low and ticks[-1] >= high


def test_byte_ticks_step_in_the_unit_a_reader_sees() -> None:
    mib = 1024**2
    ticks, scale = scaled_ticks(0, 47.7 * mib, "B")
    assert ticks == [0, 10 * mib, 20 * mib, 30 * mib, 40 * mib, 50 * mib] and scale == (mib, "MiB")
    ticks, scale = scaled_ticks(0, 977 * mib, "B")  # under 1 GiB: MiB steps, MiB labels
    assert ticks[1] == 200 * mib and format_tick(ticks[1], "B", scale) == "200 MiB"
    assert [format_tick(t, "B", (mib, "MiB")) for t in (0, 10 * mib)] == ["0", "10 MiB"]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (0.0123, "s", "12.3 ms"),
        (2.5e-6, "s", "2.5 us"),
        (1.5, "s", "1.5 s"),
        (1536 * 1024, "B", "1.5 MiB"),
        (512, "B", "512 B"),
        (3 * 1024**3, "B", "3 GiB"),
        (45, "%", "45%"),
        (0.25, "ratio", "25%"),
        (1.1, "x", "1.1x"),
        (2500, "/s", "2.5k/s"),
        (150, "/s", "150/s"),
        (1_200_000, "", "1.2M"),
    ],
)
def test_tick_labels_carry_their_unit(value: float, unit: str, text: str) -> None:
    assert format_tick(value, unit) == text


def test_tooltip_values_use_the_report_formats() -> None:
    assert format_value(0.0505, "s") == "50.5ms"
    assert format_value(3 * 1024**2, "B") == "3.0 MiB"
    assert format_value(None, "s") == "no data"


def _svg(markup: str) -> tuple[object, object]:
    doc = html5lib.parse(markup, namespaceHTMLElements=False)
    figure = doc.find(".//figure")
    assert figure is not None, markup[:200]
    return figure, figure.find(f"{SVG}svg")


def test_line_chart_draws_one_group_per_series_and_breaks_at_missing_data() -> None:
    points = [(float(t), None if t == 5 else float(t * t)) for t in range(10)]
    markup = line_chart(
        "latency",
        [Series("p50", points), Series("p99", points[:3])],
        y_unit="s",
        markers=[Marker("limit", 50.0)],
    )
    figure, svg = _svg(markup)
    assert figure.get("data-series") == "2"
    groups = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "series"]
    assert [g.get("data-name") for g in groups] == ["p50", "p99"]
    assert len(groups[0].findall(f"{SVG}polyline")) == 2  # the gap at t=5 splits the line
    assert "limit" in markup and "<title>latency</title>" in markup


def test_tooltips_are_aggregated_not_one_per_point() -> None:
    points = [(float(t), float(t % 7)) for t in range(2000)]
    markup = line_chart("busy", [Series("cpu", points)], y_unit="%")
    assert markup.count("<title>") == MAX_TIPS + 1  # the chart's own title + the columns
    assert len(markup) < 60_000


def test_every_chart_kind_renders_and_says_when_it_has_no_data() -> None:
    kinds = {
        "bar": bar_chart("sites", [("a.py:1", 2048.0), ("b.py:9", 1024.0)], unit="B"),
        "histogram": histogram_chart(
            "lat", [(0.01, 0.02, 5), (0.02, 0.03, 9)], markers=[Marker("p50", 0.02)]
        ),
        "strip": strip_chart(
            "bench", [Strip("f", [1e-3, 1.1e-3, 1.2e-3], [0, 1, 1], 1.1e-3, (1.0e-3, 1.2e-3))]
        ),
        "forest": forest_chart(
            "ratios",
            [ForestRow("f", 1.05, 0.98, 1.12)],
            markers=[Marker("1x", 1.0), Marker("gate", 1.1)],
        ),
        "area": line_chart("rss", [Series("rss", [(0.0, 1.0), (1.0, 2.0)])], area=True),
    }
    for kind, markup in kinds.items():
        figure, svg = _svg(markup)
        assert figure.get("data-kind") == kind and svg is not None
    assert "no data" in line_chart("x", [Series("a", [(0.0, None)])])
    assert "nothing" in bar_chart("x", [])
    assert "no value" in histogram_chart("x", [])
