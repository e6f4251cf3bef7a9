"""The results file: one JSON line per input, written and flushed as each task finishes.

Written incrementally so that a crash, Ctrl-C or a killed CI job keeps every result that
completed before it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import IO, Any

from agentperf.errors import AgentperfError
from agentperf.execution.base import TaskResult


def input_digest(value: Any) -> str:
    """A short, stable digest of an input (sorted keys, so dict order does not matter)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def result_record(result: TaskResult, input_value: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "index": result.index,
        "input_digest": input_digest(input_value),
        "ok": result.ok,
        "latency_s": round(result.latency_s, 9),
        "attempts": result.attempts,
        "cache_hit": result.cache_hit,
    }
    if result.ok:
        record["output"] = _jsonable(result.output)
    else:
        error = result.error
        record["error"] = {
            "type": error.type if error else "Unknown",
            "message": error.message if error else "",
            "traceback": error.traceback if error else "",
        }
        record["timed_out"] = result.timed_out
    if result.cpu_s is not None:
        record["cpu_s"] = round(result.cpu_s, 9)
    if result.worker:
        record["worker"] = result.worker
    if result.cache_hit:
        record["saved_s"] = round(result.saved_s, 9)
    if result.reran_after_worker_loss:
        record["reran_after_worker_loss"] = True
    return record


class ResultsWriter:
    """Appends result records to a JSONL file, flushing each line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh: IO[str] | None = path.open("w", encoding="utf-8")
        except OSError as exc:
            raise AgentperfError(f"--output: cannot write {path}: {exc.strerror}") from None
        self.lines = 0

    def write(self, result: TaskResult, input_value: Any) -> None:
        assert self._fh is not None
        self._fh.write(json.dumps(result_record(result, input_value), default=repr) + "\n")
        self._fh.flush()
        self.lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
