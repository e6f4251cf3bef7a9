"""Everything run-batch checks before it runs anything.

A bad spec key, threshold, cache setting or report path fails here, in a second, with
exit code 2 — not after an hour of agent calls (hyperfine opens its export files first
for the same reason).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentperf.errors import AgentperfError
from agentperf.workload.spec import WorkloadSpec, load_workload

if TYPE_CHECKING:
    from agentperf.pipeline.batch import BatchOptions
    from agentperf.workload.adapters import AgentAdapter

#: Modes that call the agent in this process, so the CLI builds it here (and a bad
#: ``init:`` fails before anything runs). auto's probe calls run here too.
IN_PROCESS_MODES = ("sequential", "threads", "asyncio", "auto")


@dataclass
class BatchPlan:
    spec: WorkloadSpec
    adapter: AgentAdapter | None  # None when the agent runs only in workers
    options: BatchOptions
    exporters: Any


def prepare_batch(reference: str, *, inputs: Sequence[str] = (), inputs_file: str | None = None,
                  execution: Mapping[str, Any] | None = None, output: Path | None = None,
                  max_error_rate: float | None = None, thresholds: Sequence[str] = (),
                  cache: Mapping[str, Any] | None = None, cache_clear: bool = False,
                  sample_interval_s: float = 0.5,
                  reports: Mapping[str, Path | None] | None = None,
                  resume: bool = False, resume_anyway: bool = False) -> BatchPlan:
    spec = load_workload(reference, inputs=inputs, inputs_file=inputs_file)
    spec = replace(spec, execution=spec.execution.with_overrides(**(execution or {})))
    _prestart_workers(spec.execution.mode)
    from agentperf.analysis.health import limits_from_mapping
    from agentperf.pipeline.batch import BatchOptions

    if max_error_rate is not None:
        spec = replace(spec, max_error_rate=max_error_rate)
    threshold_list = _thresholds(spec, thresholds)
    limits = limits_from_mapping(spec.health, spec.error)
    cache_config = _cache_config(spec, cache or {})
    if cache_clear and cache_config is None:
        raise AgentperfError("--cache-clear: this run has no cache to empty (the cache is off "
                             "unless the spec has a cache: section or --cache is given)")
    # One streaming pass over an input file: a bad line 297 is exit 2 before task 1.
    spec = replace(spec, inputs=spec.inputs.validate())
    # processes and dask rebuild the agent in every worker; building it here too would
    # load a model once more for nothing (load_workload has import-checked it).
    adapter = spec.build_agent() if spec.execution.mode in IN_PROCESS_MODES else None
    exporters = _exporters(reports or {})
    output = output or spec.output
    code = _code_fingerprint(spec) if output else None
    options = BatchOptions(
        output=output, cache_config=cache_config, cache_clear=cache_clear,
        health_limits=limits, sample_interval_s=sample_interval_s, thresholds=threshold_list,
        code_fingerprint=code,
        resume=_resume(spec, output, code, anyway=resume_anyway) if resume or resume_anyway
        else None,
    )
    return BatchPlan(spec=spec, adapter=adapter, options=options, exporters=exporters)


def _prestart_workers(mode: str | None) -> None:
    """Processes mode's worker server starts as soon as the mode is known, so it starts
    up while this process imports the run's modules."""
    if mode == "processes":
        from agentperf.execution.worker_start import prestart_workers

        prestart_workers()


def _code_fingerprint(spec: WorkloadSpec) -> str:
    """The short code fingerprint every results row carries (what ``--resume`` checks)."""
    from agentperf.workload.fingerprint import agent_fingerprint

    return agent_fingerprint(spec.agent, spec.fingerprint, spec.base_dir).short


def _resume(spec: WorkloadSpec, output: Path | None, code: str | None, *, anyway: bool) -> Any:
    """The plan of a resumed run: the earlier rows, checked against inputs and code now."""
    if output is None:
        raise AgentperfError("--resume: needs the results file of the run to continue "
                             "(--output FILE, or output: in the spec)")
    from agentperf.pipeline.resume import plan_resume

    return plan_resume(output, spec.inputs, code, anyway=anyway)


def _thresholds(spec: WorkloadSpec, cli: Sequence[str]) -> list[Any]:
    from agentperf.analysis.thresholds import RUN_BATCH_METRICS, parse_thresholds

    return parse_thresholds(spec.thresholds, cli, metrics=RUN_BATCH_METRICS, error=spec.error)


def _cache_config(spec: WorkloadSpec, cli: Mapping[str, Any]) -> Any:
    """The cache only when the spec's ``cache:`` section or the command line asks for it."""
    from agentperf.cache import requested

    if not requested(spec.cache, cache=cli.get("enabled"), dir=cli.get("dir"),
                     redis_url=cli.get("redis_url")):
        return None  # nothing to turn on or validate: the config module stays unloaded
    from agentperf.cache.config import cache_for_workload

    return cache_for_workload(spec, cache=cli.get("enabled"), dir=cli.get("dir"),
                              redis_url=cli.get("redis_url"))


def _exporters(reports: Mapping[str, Path | None]) -> Any:
    from agentperf.report.exporters import open_exporters

    return open_exporters(**reports)
