"""Every monitor sample to JSONL or CSV, written and flushed as it is taken.

The file is opened before monitoring starts, so a bad path fails in a second rather
than after an hour, and each line reaches the operating system before the next
sample: a monitor stopped by Ctrl-C or killed keeps every sample it took.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Protocol

from agentperf.errors import AgentperfError

FORMATS = ("jsonl", "csv")


class SampleExporter(Protocol):
    path: Path

    def write(self, timestamp: float, metrics: Mapping[str, float | None]) -> None: ...

    def close(self) -> None: ...


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.timezone.utc).isoformat(timespec="milliseconds")


def _clean(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(value, 6) if isinstance(value, float) else value


class JsonlExporter:
    """One JSON object per line: ``time`` (ISO 8601 UTC), ``timestamp`` and each metric."""

    def __init__(self, path: Path, fh: IO[str]) -> None:
        self.path = path
        self._fh = fh

    def write(self, timestamp: float, metrics: Mapping[str, float | None]) -> None:
        row = {"time": _iso(timestamp), "timestamp": round(timestamp, 3)}
        row.update({k: _clean(v) for k, v in metrics.items()})
        self._fh.write(json.dumps(row, separators=(",", ":")) + "\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class CsvExporter:
    """A header from the first sample's metrics, then one row per sample.

    A metric missing from a later sample (the watched process ended) is an empty cell.
    """

    def __init__(self, path: Path, fh: IO[str]) -> None:
        self.path = path
        self._fh = fh
        self._writer: csv.DictWriter[str] | None = None

    def write(self, timestamp: float, metrics: Mapping[str, float | None]) -> None:
        row: dict[str, object] = {"time": _iso(timestamp), "timestamp": round(timestamp, 3)}
        row.update({k: _clean(v) for k, v in metrics.items()})
        if self._writer is None:
            self._writer = csv.DictWriter(self._fh, fieldnames=list(row), restval="",
                                          extrasaction="ignore")
            self._writer.writeheader()
        self._writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def open_exporter(path: str | Path) -> SampleExporter:
    """Create the export file now; the format comes from the suffix (.jsonl/.ndjson, .csv)."""
    target = Path(path)
    suffix = target.suffix.lower().lstrip(".")
    fmt = {"jsonl": "jsonl", "ndjson": "jsonl", "csv": "csv"}.get(suffix)
    if fmt is None:
        raise AgentperfError(f"--export {path}: unknown format '.{suffix}' "
                             "(expected .jsonl or .csv)")
    try:
        fh = target.open("w", encoding="utf-8", newline="" if fmt == "csv" else None)
    except OSError as exc:
        raise AgentperfError(f"--export {path}: cannot write: {exc.strerror}") from None
    return JsonlExporter(target, fh) if fmt == "jsonl" else CsvExporter(target, fh)
