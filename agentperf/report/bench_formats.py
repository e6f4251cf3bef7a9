"""Bench results as files and text: JSON, Markdown, CSV, github-action-benchmark, histogram.

Each format is one function from result data to a string, in the manner of
hyperfine's exporters; the CLI decides where the string goes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from typing import Any

from agentperf.analysis.compare import GateResult, SuiteComparison
from agentperf.bench.baseline import suite_to_dict
from agentperf.bench.model import BenchmarkResult, BenchSuite
from agentperf.measure.units import format_bytes, format_usd
from agentperf.report.serialize import to_jsonable

_TIME_UNITS = (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9))
_RATE_UNITS = (("G", 1e9), ("M", 1e6), ("k", 1e3))


def significant(value: float, digits: int = 3) -> str:
    """``digits`` significant digits in plain notation: ``1000``, never ``1e+03``."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    rounded = float(f"{value:.{digits}g}")
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(rounded))))
    return f"{rounded:.{decimals}f}"


def _scaled(value: float, units: Sequence[tuple[str, float]], digits: int) -> tuple[str, str]:
    """(number, unit) in the largest unit that keeps the rounded number at least 1."""
    for unit, scale in units:
        if abs(value) >= scale * (1 - 0.5 * 10 ** (1 - digits)):
            return significant(value / scale, digits), unit
    unit, scale = units[-1]
    return significant(value / scale, digits), unit


def format_time(seconds: float, digits: int = 3) -> str:
    """``digits`` significant digits in the largest unit that keeps the value at least 1."""
    if not math.isfinite(seconds):
        return "n/a"
    number, unit = _scaled(seconds, _TIME_UNITS, digits)
    return f"{number} {unit}"


def format_interval(low: float, high: float) -> str:
    """Both ends in one unit, that of the upper end: ``54.4-62.3 us``, ``0.306-1.60 ms``."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return "n/a"
    _, unit = _scaled(high, _TIME_UNITS, 3)
    scale = dict(_TIME_UNITS)[unit]
    return f"{significant(low / scale)}-{significant(high / scale)} {unit}"


def format_rate(per_second: float, unit: str) -> str:
    if not math.isfinite(per_second):
        return "n/a"
    number, prefix = _scaled(per_second, (*_RATE_UNITS, ("", 1.0)), 3)
    return f"{number}{prefix} {unit}/s"


def format_throughput(bytes_per_s: float | None) -> str:
    return f"{bytes_per_s / 2**20:,.0f} MiB/s" if bytes_per_s else ""


def rate_text(result: BenchmarkResult) -> str:
    """Throughput in MiB/s where the benchmark moves bytes, else its operations per second."""
    if result.bytes_per_s:
        return format_throughput(result.bytes_per_s)
    return format_rate(result.ops_per_s, result.recipe.op_unit)


def format_ratio(ratio: float, low: float, high: float) -> str:
    if not math.isfinite(ratio):
        return "n/a"
    if math.isnan(low):
        return f"{ratio:.3f}x"
    return f"{ratio:.3f}x [{low:.3f}-{high:.3f}]"


def figures_text(result: BenchmarkResult) -> str:
    """One line of a workload's --type cpu, memory or io figures, per call."""
    f = result.figures
    parts: list[str] = []
    if "cpu_per_call_s" in f:
        parts.append(f"CPU {format_time(f['cpu_per_call_s'])}/call "
                     f"(user+system, {f['cpu_share']:.0%} of wall)")
        if result.recipe.measure == "io":
            parts.append(f"waiting {format_time(f['wait_per_call_s'])}/call")
    if "syscalls_per_call" in f:
        parts.append(f"read {format_bytes(f['read_bytes_per_call'])}, written "
                     f"{format_bytes(f['write_bytes_per_call'])}, "
                     f"{significant(f['syscalls_per_call'])} read/write syscalls per call")
    elif result.recipe.measure == "io":
        parts.append("I/O bytes and syscalls: not reported on this platform")
    if "peak_bytes_per_call" in f:
        parts.append(f"peak {format_bytes(f['peak_bytes_per_call'])}/call (max "
                     f"{format_bytes(f.get('max_peak_bytes_per_call', 0))}), retained "
                     f"{format_bytes(f.get('retained_bytes_per_call', 0))}/call")
    if "peak_rss_bytes" in f:
        parts.append(f"peak RSS {format_bytes(f['peak_rss_bytes'])}")
    if "input_tokens_per_call" in f:
        text = (f"{f['input_tokens_per_call']:,.1f} input + {f['output_tokens_per_call']:,.1f} "
                "output tokens/call")
        if "cost_usd_per_call" in f:
            text += f", {format_usd(f['cost_usd_per_call'])}/call"
            text += " (estimate)" if f.get("cost_estimated") else ""
        parts.append(f"{text} (read from {f['usage_calls_read']:.0f} calls)")
    return "; ".join(parts)


def peak_text(result: BenchmarkResult) -> str:
    return format_bytes(result.peak_bytes.median) if result.peak_bytes else ""


def time_methods(suite: BenchSuite) -> str:
    """What the time column is, once per distinct method (one process: the median)."""
    return "; ".join(dict.fromkeys(b.center_method for b in suite.benchmarks))


def to_json_document(suite: BenchSuite, comparison: SuiteComparison | None = None,
                     gates: Sequence[GateResult] = ()) -> dict[str, Any]:
    """The saved-baseline document, plus the comparison and gates when there are any."""
    document = suite_to_dict(suite)
    if comparison is not None:
        document.update(comparison_document(comparison, gates))
    return document


def to_json(suite: BenchSuite, comparison: SuiteComparison | None = None,
            gates: Sequence[GateResult] = ()) -> str:
    return json.dumps(to_json_document(suite, comparison, gates), indent=2)


def to_markdown(suite: BenchSuite, comparison: SuiteComparison | None = None,
                gates: Sequence[GateResult] = ()) -> str:
    lines = ["| Benchmark | Time | 95% CI | Median | Mean ± sd | CV | Rate | Peak memory |",
             "|:---|---:|---:|---:|---:|---:|---:|---:|"]
    for b in suite.benchmarks:
        s = b.stats
        lines.append(
            f"| `{b.name}` | {format_time(b.center)} | {format_interval(*b.ci)} | "
            f"{format_time(s.median)} | {format_time(s.mean)} ± {format_time(s.stdev)} | "
            f"{s.cv:.1%} | {rate_text(b)} | {peak_text(b)} |")
    lines.append(f"\nTime: {time_methods(suite)}.")
    lines += [f"\n`{b.name}`: {figures_text(b)}" for b in suite.benchmarks if b.figures]
    warnings = [f"{b.name}: {w.message}" for b in suite.benchmarks for w in b.warnings]
    lines += ["", *[f"- ⚠ {w}" for w in warnings]] if warnings else []
    text = "\n".join(lines) + "\n"
    if comparison is not None:
        text += "\n" + comparison_markdown(comparison, gates)
    return text


def format_p(p_value: float) -> str:
    """A p-value without exponent notation: ``0.038``, ``<0.0001``."""
    if math.isnan(p_value):
        return "n/a"
    return "<0.0001" if p_value < 1e-4 else significant(p_value, 2)


def _verdict_text(metric: Any) -> str:
    return f"{metric.verdict} ({metric.reason})" if metric.reason else metric.verdict


def comparison_markdown(comparison: SuiteComparison, gates: Sequence[GateResult] = ()) -> str:
    lines = ["| Benchmark | Base | New | Ratio [CI] | p | Verdict | Memory |",
             "|:---|---:|---:|---:|---:|:---|:---|"]
    for pair in comparison.benchmarks:
        t = pair.time
        memory = f"{pair.memory.ratio:.3f}x ({pair.memory.verdict})" if pair.memory else ""
        lines.append(
            f"| `{pair.name}` | {format_time(t.base_value)} | {format_time(t.new_value)} | "
            f"{format_ratio(t.ratio, t.ci_low, t.ci_high)} | {format_p(t.p_value)} | "
            f"{_verdict_text(t)} | {memory} |")
        lines.append(f"|  | {t.method}; {t.confidence:.2%} CI | | | | | |")
    lines += [f"- only in the baseline: `{n}`" for n in comparison.only_in_base]
    lines += [f"- only in the new run: `{n}`" for n in comparison.only_in_new]
    lines += [f"- ⚠ {w.message}" for w in comparison.warnings]
    lines += [f"- {'❌' if g.failed else '✅'} {g.message}" for g in gates]
    return "\n".join(lines) + "\n"


def comparison_document(comparison: SuiteComparison,
                        gates: Sequence[GateResult] = ()) -> dict[str, Any]:
    return {"comparison": to_jsonable(comparison),
            "gates": [{**to_jsonable(g), "message": g.message} for g in gates],
            "gate_failed": any(g.failed for g in gates)}


CSV_FIELDS = ("name", "kind", "samples", "loops", "time_s", "time_of", "median_s", "mean_s",
              "stdev_s", "mad_s",
              "min_s", "max_s", "p95_s", "p99_s", "cv", "ci_low_s", "ci_high_s", "ops_per_s",
              "op_unit", "bytes_per_s", "peak_bytes_median", "max_rss_bytes", "outliers",
              "warnings")


def to_csv(suite: BenchSuite) -> str:
    """One row per benchmark; times in seconds per call."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for b in suite.benchmarks:
        s = b.stats
        writer.writerow([
            b.name, b.recipe.kind, s.count, b.loops, b.center, b.center_method, s.median,
            s.mean, s.stdev, s.mad, s.min,
            s.max, s.p95, s.p99, s.cv, b.ci[0], b.ci[1], b.ops_per_s, b.recipe.op_unit,
            b.bytes_per_s if b.bytes_per_s is not None else "",
            b.peak_bytes.median if b.peak_bytes else "",
            b.max_rss_bytes if b.max_rss_bytes is not None else "", len(b.outliers),
            "; ".join(w.code for w in b.warnings)])
    return out.getvalue()


def to_github_action_benchmark(suite: BenchSuite) -> str:
    """github-action-benchmark's ``customSmallerIsBetter`` input: a JSON list of entries.

    Times are in a fixed unit (microseconds per call) so a chart never jumps when a
    value crosses a unit boundary. The time's CI is rarely symmetric, and ``range``
    holds one number: it is the larger half-width, so the band never understates the
    uncertainty, and the CI itself is in ``extra``.
    """
    entries: list[dict[str, Any]] = []
    for b in suite.benchmarks:
        low, high = b.ci
        center = b.center
        half = max(center - low, high - center) * 1e6
        entries.append({
            "name": b.name, "unit": "us", "value": round(center * 1e6, 6),
            "range": f"± {significant(half, 4)}",
            "extra": f"95% CI {significant(low * 1e6, 4)}-{significant(high * 1e6, 4)} us; "
                     f"{b.center_method}; {b.stats.count} samples x {b.loops} loops; "
                     f"CV {b.stats.cv:.1%}"})
        if b.peak_bytes:
            entries.append({"name": f"{b.name} - peak memory", "unit": "bytes",
                            "value": b.peak_bytes.median,
                            "extra": "tracemalloc peak of one call (median over samples)"})
    return json.dumps(entries, indent=2)


def histogram_lines(values: Sequence[float], *, bins: int = 10, width: int = 40) -> list[str]:
    """A text histogram of per-call times, one line per bin."""
    if not values:
        return []
    low, high = min(values), max(values)
    if high == low:
        return [f"{format_time(low, 4):>10} | {'#' * width} {len(values)}"]
    bins = min(bins, math.ceil(math.log2(len(values))) + 1)  # Sturges: few samples, few bins
    step = (high - low) / bins
    counts = [0] * bins
    for v in values:
        counts[min(int((v - low) / step), bins - 1)] += 1
    peak = max(counts)
    return [f"{format_time(low + i * step, 4):>10} | "
            f"{'#' * max(round(c / peak * width), 1 if c else 0):<{width}} {c}"
            for i, c in enumerate(counts)]
