"""The monitor's current values on a Prometheus endpoint, bound to 127.0.0.1.

A custom collector reads the latest monitor tick, the soak's totals and the
``@measure`` registry at scrape time, so nothing is copied between samples. Names
follow Prometheus conventions: base units (bytes, seconds), ratios from 0 to 1, and
counters ending in ``_total`` (disk, network and context switches counted since the
monitor started, from the same deltas the monitor shows as rates).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agentperf.errors import AgentperfError

PREFIX = "agentperf"

_GAUGES = (
    # (metric key, exported name, help, scale)
    ("cpu_percent", "cpu_utilization_ratio", "Busy share of all CPUs (0-1).", 0.01),
    ("memory_percent", "memory_utilization_ratio", "Used share of physical memory (0-1).",
     0.01),
    ("memory_available_bytes", "memory_available_bytes", "Memory available to new processes.",
     1.0),
    ("memory_used_bytes", "memory_used_bytes", "Memory in use.", 1.0),
    ("swap_used_bytes", "swap_used_bytes", "Swap in use.", 1.0),
    ("process_rss_bytes", "process_resident_memory_bytes",
     "Resident memory of the watched process tree.", 1.0),
    ("process_threads", "process_threads", "Threads in the watched process tree.", 1.0),
    ("process_open_files", "process_open_fds", "Open file descriptors of the process tree.",
     1.0),
    ("process_count", "process_count", "Processes in the watched tree.", 1.0),
    ("task_cache_hit_ratio", "cache_hit_ratio",
     "Share of the last interval's tasks answered from the cache.", 1.0),
    ("task_throughput_per_s", "task_throughput_per_second",
     "Tasks finished per second over the last interval.", 1.0),
)
_COUNTERS = (
    ("disk_read_bytes_per_s", "disk_read_bytes", "Bytes read from disks since the start."),
    ("disk_write_bytes_per_s", "disk_written_bytes", "Bytes written to disks since the start."),
    ("disk_read_ops_per_s", "disk_reads_completed", "Disk reads completed since the start."),
    ("disk_write_ops_per_s", "disk_writes_completed", "Disk writes completed since the start."),
    ("net_sent_bytes_per_s", "network_transmit_bytes", "Bytes sent since the start."),
    ("net_recv_bytes_per_s", "network_receive_bytes", "Bytes received since the start."),
    ("process_ctx_switches_per_s", "process_context_switches",
     "Context switches of the watched process tree since the start."),
)


class MonitorCollector:
    """Reads ``session.latest``, ``session.soak_summary()`` and ``session.registry``."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        tick = self.session.latest
        if tick is not None:
            yield from self._system(tick, GaugeMetricFamily, CounterMetricFamily)
            health = GaugeMetricFamily(f"{PREFIX}_health_score",
                                       "Health score from 0 (critical) to 100.")
            health.add_metric([], tick.health.score)
            yield health
        yield from self._tasks(CounterMetricFamily)
        yield from self._functions(CounterMetricFamily)

    def _system(self, tick: Any, gauge: Any, counter: Any) -> Iterator[Any]:
        m = tick.metrics
        for key, name, doc, scale in _GAUGES:
            if m.get(key) is not None:
                yield gauge(f"{PREFIX}_{name}", doc, value=m[key] * scale)
        cores = gauge(f"{PREFIX}_cpu_core_utilization_ratio", "Busy share of each core (0-1).",
                      labels=["core"])
        for i, pct in enumerate(tick.sample.cpu_per_core):
            cores.add_metric([str(i)], pct / 100)
        yield cores
        load = gauge(f"{PREFIX}_load_average", "System load average.", labels=["window"])
        for window in ("1m", "5m", "15m"):
            load.add_metric([window], getattr(tick.sample, f"load_{window}"))
        yield load
        if tick.sample.process is not None:
            n = len(tick.sample.cpu_per_core) or 1
            yield gauge(f"{PREFIX}_process_cpu_utilization_ratio",
                        "CPU used by the watched process tree, as a share of all cores (0-1).",
                        value=tick.sample.process.cpu_percent / 100 / n)
        for key, name, doc in _COUNTERS:
            if key in tick.totals:
                yield counter(f"{PREFIX}_{name}", doc, value=tick.totals[key])

    def _tasks(self, counter: Any) -> Iterator[Any]:
        soak = self.session.soak_summary()
        if soak is None:
            return
        tasks = counter(f"{PREFIX}_tasks", "Workload tasks finished, by outcome.",
                        labels=["outcome"])
        tasks.add_metric(["succeeded"], soak.total - soak.failed)
        tasks.add_metric(["failed"], soak.failed)
        yield tasks
        lat = soak.latency
        yield _summary(f"{PREFIX}_task_latency_seconds", "Workload task latency.", {},
                       lat, lat.count, lat.mean * lat.count)

    def _functions(self, counter: Any) -> Iterator[Any]:
        functions = self.session.registry.snapshot()
        if not functions:
            return
        calls = counter(f"{PREFIX}_function_calls", "Calls of @measure functions, by outcome.",
                        labels=["function", "outcome"])
        for f in functions.values():
            calls.add_metric([f.name, "succeeded"], f.calls - f.failures)
            calls.add_metric([f.name, "failed"], f.failures)
        yield calls
        for f in functions.values():
            yield _summary(f"{PREFIX}_function_latency_seconds",
                           "Latency of @measure functions.", {"function": f.name}, f.latency,
                           f.calls, f.total_latency_s)


def _summary(name: str, doc: str, labels: dict[str, str], latency: Any, count: int,
             total: float) -> Any:
    """A summary with quantiles (prometheus_client's SummaryMetricFamily has none)."""
    from prometheus_client.core import Metric

    metric = Metric(name, doc, "summary")
    for q, attr in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99")):
        metric.add_sample(name, {**labels, "quantile": q}, getattr(latency, attr))
    metric.add_sample(f"{name}_count", labels, count)
    metric.add_sample(f"{name}_sum", labels, total)
    return metric


class PrometheusServer:
    """An HTTP endpoint on ``127.0.0.1:port`` serving :class:`MonitorCollector`."""

    def __init__(self, session: Any, port: int, addr: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(MonitorCollector(session))
        try:
            self._server, self._thread = start_http_server(port, addr=addr,
                                                           registry=self.registry)
        except OSError as exc:
            raise AgentperfError(f"--prometheus-port {port}: cannot listen on {addr}: "
                                 f"{exc.strerror}") from None
        self.port = self._server.server_port
        self.url = f"http://{addr}:{self.port}/metrics"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
