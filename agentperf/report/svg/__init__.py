"""SVG charts from data: line/area, bar, histogram, strip and forest plots.

Every HTML report draws with this one package, so axes, ticks, units, legends and
tooltips look and behave the same everywhere. The output is plain inline SVG: no
script, no font or stylesheet to fetch, readable in any browser and when printed.
Text uses ``currentColor`` so a page's light or dark scheme carries into its charts.

Each chart is a ``<figure class="chart" data-kind=... data-series=N>``; each series is
one ``<g class="series">``, so a test can count what was drawn. Tooltips are ``<title>``
elements on aggregated points only (at most :data:`MAX_TIPS` per chart), which keeps a
2,000-point timeline chart small.
"""

from agentperf.report.svg.axes import (
    MAX_TIPS,
    PALETTE,
    Band,
    Marker,
    Series,
    format_tick,
    format_value,
    nice_ticks,
    scaled_ticks,
    standalone,
    unit_scale,
)
from agentperf.report.svg.lines import histogram_chart, line_chart
from agentperf.report.svg.rows import (
    ForestRow,
    Strip,
    bar_chart,
    forest_chart,
    ratio_ticks,
    strip_chart,
)

__all__ = [
    "MAX_TIPS",
    "PALETTE",
    "Band",
    "ForestRow",
    "Marker",
    "Series",
    "Strip",
    "bar_chart",
    "forest_chart",
    "format_tick",
    "format_value",
    "histogram_chart",
    "line_chart",
    "nice_ticks",
    "ratio_ticks",
    "scaled_ticks",
    "standalone",
    "strip_chart",
    "unit_scale",
]
