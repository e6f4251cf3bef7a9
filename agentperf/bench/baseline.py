"""The versioned baseline file: every raw sample plus the environment it came from.

Loading recomputes every statistic from the raw samples with the same code that made
them, so an old file never disagrees with a new run about what its numbers mean.
Anything that is not such a file is rejected with one line naming the file and the
problem.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from agentperf.bench.model import KINDS, BenchmarkResult, BenchSuite, Sample, TargetRecipe
from agentperf.bench.results import MEMORY_FIGURES, build_result
from agentperf.errors import AgentperfError

FORMAT = "agentperf-bench"
FORMAT_VERSION = 1

#: Top-level keys by which other tools' files are recognised, to say what a file is.
_FOREIGN = (
    ({"benchmarks", "metadata", "version"}, "a pyperf result file"),
    ({"machine_info", "benchmarks"}, "a pytest-benchmark file"),
    ({"results"}, "a hyperfine export"),
)


def suite_to_dict(suite: BenchSuite) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "agentperf_version": suite.agentperf_version,
        "created_at": suite.created_at,
        "environment": suite.environment,
        "options": suite.options,
        "benchmarks": [_benchmark_to_dict(b) for b in suite.benchmarks],
    }


def _benchmark_to_dict(result: BenchmarkResult) -> dict[str, Any]:
    stats = asdict(result.stats)
    stats["cv"] = result.stats.cv
    return {
        "name": result.name,
        "recipe": result.recipe.to_dict(),
        "loops": result.loops,
        "load_average": result.load_average,
        "others_cpu": result.others_cpu,
        "stopped_early": result.stopped_early,
        "samples": [asdict(s) for s in result.samples],
        "memory_per_call": {k: v for k, v in result.figures.items() if k in MEMORY_FIGURES},
        "derived": {
            "unit": "seconds per call",
            "stats": stats,
            "time_s": result.center,
            "time_of": result.center_method,
            "time_ci95": list(result.ci),
            "outliers": result.outliers,
            "ops_per_s": result.ops_per_s,
            "bytes_per_s": result.bytes_per_s,
            "peak_bytes": asdict(result.peak_bytes) if result.peak_bytes else None,
            "max_rss_bytes": result.max_rss_bytes,
            "figures": result.figures,
            "warnings": [asdict(w) for w in result.warnings],
        },
    }


def save_suite(suite: BenchSuite, path: Path) -> None:
    """Write atomically, so an interrupted run never leaves half a baseline."""
    text = json.dumps(suite_to_dict(suite), indent=2, allow_nan=False)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise AgentperfError(f"{path}: cannot write baseline: {exc.strerror}") from None


def append_run(existing: BenchSuite, suite: BenchSuite) -> BenchSuite:
    """``existing`` with ``suite`` added as its next run, benchmark by benchmark.

    The runs stay apart (each sample keeps its run number), so a comparison can use
    their run-to-run spread; the environment and options are the newest run's.
    """
    by_name = existing.by_name()
    next_run = 1 + max((s.run for b in existing.benchmarks for s in b.samples), default=-1)
    merged: list[BenchmarkResult] = []
    for result in suite.benchmarks:
        old = by_name.pop(result.name, None)
        added = [replace(s, run=next_run) for s in result.samples]
        samples = (old.samples if old else []) + added
        merged.append(build_result(result.recipe, samples, loops=result.loops,
                                   load_average=result.load_average,
                                   cpu_count=suite.environment.get("cpu_count"),
                                   stopped_early=result.stopped_early,
                                   others_cpu=result.others_cpu))
    merged.extend(by_name.values())
    return replace(suite, benchmarks=merged)


def baseline_loops(result: BenchmarkResult) -> int:
    """The loop count of the baseline's newest run, for a new run to reuse."""
    last = max(s.run for s in result.samples)
    return next(s.loops for s in result.samples if s.run == last)


def baseline_processes(result: BenchmarkResult) -> int:
    """Worker processes of the baseline's newest run (0: it ran in one process)."""
    last = max(s.run for s in result.samples)
    count = len({s.process for s in result.samples if s.run == last})
    return count if count > 1 else 0


def load_suite(path: Path) -> BenchSuite:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AgentperfError(f"{path}: baseline file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AgentperfError(f"{path}: cannot read baseline: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise AgentperfError(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON ({exc.msg}); "
                             "is this a file written by 'agentperf bench --save'?") from None
    return suite_from_dict(data, str(path))


def suite_from_dict(data: Any, source: str) -> BenchSuite:
    reader = _Reader(source)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise reader.error("", f"not an agentperf bench baseline{_what_it_is(data)}; write "
                           "one with 'agentperf bench --save FILE'")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise reader.error("format_version", "expected an integer")
    if version > FORMAT_VERSION:
        raise reader.error("format_version", f"written by a newer agentperf (format "
                           f"{version}; this version reads up to {FORMAT_VERSION}); upgrade")
    environment = reader.mapping(data, "environment")
    benchmarks = reader.list(data, "benchmarks")
    cpu_count = environment.get("cpu_count") if isinstance(environment.get("cpu_count"),
                                                           int) else None
    results = [_benchmark_from_dict(reader, item, f"benchmarks[{i}]", cpu_count)
               for i, item in enumerate(benchmarks)]
    names = [r.name for r in results]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise reader.error("benchmarks", f"benchmark name '{duplicate}' appears twice")
    return BenchSuite(benchmarks=results, environment=environment,
                      options=reader.mapping(data, "options"),
                      created_at=str(data.get("created_at", "")),
                      agentperf_version=str(data.get("agentperf_version", "")), source=source)


def _benchmark_from_dict(reader: _Reader, item: Any, where: str,
                         cpu_count: int | None) -> BenchmarkResult:
    if not isinstance(item, dict):
        raise reader.error(where, "expected a mapping")
    recipe_data = reader.mapping(item, "recipe", where)
    try:
        recipe = TargetRecipe(**{**recipe_data, "inputs": tuple(recipe_data.get("inputs", ()))})
    except TypeError as exc:
        raise reader.error(f"{where}.recipe", f"unexpected fields ({exc})") from None
    if not isinstance(recipe.name, str) or not recipe.name or recipe.kind not in KINDS:
        raise reader.error(f"{where}.recipe", "needs a 'name' and a 'kind' in "
                           + ", ".join(KINDS))
    raw = reader.list(item, "samples", where)
    if not raw:
        raise reader.error(f"{where}.samples", "no samples")
    samples = [_sample(reader, s, f"{where}.samples[{j}]") for j, s in enumerate(raw)]
    loads, others = item.get("load_average"), item.get("others_cpu")
    result = build_result(recipe, samples, loops=samples[0].loops,
                          load_average=float(loads) if isinstance(loads, (int, float)) else None,
                          cpu_count=cpu_count, stopped_early=bool(item.get("stopped_early")),
                          others_cpu=float(others) if isinstance(others, (int, float)) else None)
    memory = item.get("memory_per_call") or {}
    if not isinstance(memory, dict):
        raise reader.error(f"{where}.memory_per_call", "expected a mapping")
    result.figures.update({k: float(v) for k, v in memory.items()
                           if k in MEMORY_FIGURES and isinstance(v, (int, float))})
    return result


def _sample(reader: _Reader, data: Any, where: str) -> Sample:
    if not isinstance(data, dict):
        raise reader.error(where, "expected a mapping")
    for key in ("loops", "elapsed_ns"):
        value = data.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise reader.error(f"{where}.{key}", "expected a positive integer")
    for key in ("peak_bytes", "max_rss_bytes"):
        value = data.get(key)
        if value is not None and (not isinstance(value, int) or value < 0):
            raise reader.error(f"{where}.{key}", "expected a non-negative integer or null")
    return Sample(loops=data["loops"], elapsed_ns=data["elapsed_ns"],
                  peak_bytes=data.get("peak_bytes"), max_rss_bytes=data.get("max_rss_bytes"),
                  process=int(data.get("process") or 0), run=int(data.get("run") or 0),
                  cost_usd=_cost(reader, data, where),
                  cost_estimated=data.get("cost_estimated") is True,
                  **{key: _count(reader, data, key, where) for key in _COUNTS})


_COUNTS = ("cpu_ns", "read_bytes", "write_bytes", "syscalls", "input_tokens", "output_tokens")


def _cost(reader: Any, data: dict[str, Any], where: str) -> float | None:
    value = data.get("cost_usd")
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                              or value < 0):
        raise reader.error(f"{where}.cost_usd", "expected a non-negative number or null")
    return None if value is None else float(value)


def _count(reader: _Reader, data: dict[str, Any], key: str, where: str) -> int | None:
    value = data.get(key)
    if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                              or value < 0):
        raise reader.error(f"{where}.{key}", "expected a non-negative integer or null")
    return value


class _Reader:
    """Type checks that name the file and the key path of the first problem."""

    def __init__(self, source: str) -> None:
        self.source = source

    def error(self, key: str, message: str) -> AgentperfError:
        where = f"{self.source}: {key}" if key else self.source
        return AgentperfError(f"{where}: {message}")

    def mapping(self, data: dict[str, Any], key: str, prefix: str = "") -> dict[str, Any]:
        value = data.get(key)
        if not isinstance(value, dict):
            raise self.error(f"{prefix}.{key}" if prefix else key, "expected a mapping")
        return value

    def list(self, data: dict[str, Any], key: str, prefix: str = "") -> list[Any]:
        value = data.get(key)
        if not isinstance(value, list):
            raise self.error(f"{prefix}.{key}" if prefix else key, "expected a list")
        return value


def _what_it_is(data: Any) -> str:
    if not isinstance(data, dict):
        return f" (the file holds a JSON {type(data).__name__}, not an object)"
    keys = set(data)
    for signature, label in _FOREIGN:
        if signature <= keys:
            return f" (it looks like {label})"
    if "format" in data:
        return f" (format is {data['format']!r}, expected {FORMAT!r})"
    return " (no 'format': 'agentperf-bench' key)"
