"""The results file: one JSON line per input, written and flushed as each task finishes.

Written incrementally so that a crash, Ctrl-C or a killed CI job keeps every result that
completed before it. The file is created with the first result (or, for a run with no
input, when the run ends), so a run stopped by a usage error before any task leaves no
empty file behind. Secrets are masked as in the reports: this file is the artifact CI
jobs upload, and an agent's error, traceback or output may repeat its API key.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from agentperf.errors import AgentperfError
from agentperf.execution.base import RetryRecord, TaskResult
from agentperf.outputs import check_output_path
from agentperf.redact import Redactor


def input_digest(value: Any) -> str:
    """A short, stable digest of an input (sorted keys, so dict order does not matter)."""
    encoded = json.dumps(value, sort_keys=True, separators=(",", ":"), default=repr)
    import hashlib  # here: only a results file's rows carry a digest (~5 ms to load)

    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:16]


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def result_record(result: TaskResult, input_value: Any,
                  redactor: Redactor | None = None, code: str | None = None) -> dict[str, Any]:
    """The JSON line of one result; ``redactor`` masks secrets in its output and error.

    ``code`` is the agent's code fingerprint: ``--resume`` refuses rows of other code.
    """
    redactor = redactor or Redactor()
    record: dict[str, Any] = {
        "index": result.index,
        "input_digest": input_digest(input_value),
        "ok": result.ok,
        "latency_s": round(result.latency_s, 9),
        "attempts": result.attempts,
        "cache_hit": result.cache_hit,
    }
    if result.ok:
        record["output"] = redactor.strings(_jsonable(result.output))
    else:
        error = result.error
        record["error"] = {
            "type": error.type if error else "Unknown",
            "message": redactor.text(error.message) if error else "",
            "traceback": redactor.text(error.traceback) if error else "",
        }
        if error is not None and error.status is not None:
            record["error"]["status"] = error.status
        if error is not None and error.retry_after_s is not None:
            record["error"]["retry_after_s"] = round(error.retry_after_s, 3)
        record["timed_out"] = result.timed_out
    if result.service_s is not None:
        record["service_s"] = round(result.service_s, 9)
    if result.cpu_s is not None:
        record["cpu_s"] = round(result.cpu_s, 9)
    if result.worker:
        record["worker"] = result.worker
    if result.cache_hit:
        record["saved_s"] = round(result.saved_s, 9)
    if result.reran_after_worker_loss:
        record["reran_after_worker_loss"] = True
    if result.retry is not None:
        _retry_fields(record, result.retry)
    if code is not None:
        record["code_fingerprint"] = code
    if result.usage is not None:
        record["usage"] = _usage_record(result)
    return record


def _retry_fields(record: dict[str, Any], retry: RetryRecord) -> None:
    """Why the task was retried and how long it waited; or that its failure was not."""
    if retry.causes:
        record["retry_causes"] = list(retry.causes)
        record["retry_wait_s"] = round(retry.wait_s, 6)
    if retry.not_retried:
        record["not_retried"] = True


def _usage_record(result: TaskResult) -> dict[str, Any]:
    """One task's usage: token counts (a cache hit's are what it saved), finish reasons,
    and stream timing (offsets from the call's start)."""
    usage = result.usage
    assert usage is not None
    data: dict[str, Any] = {}
    if usage.has_tokens:
        data.update(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                    cached_input_tokens=usage.cached_input_tokens,
                    cache_write_tokens=usage.cache_write_tokens, models=usage.models)
    if usage.finish_reasons:
        data["finish_reasons"] = list(usage.finish_reasons)
    if usage.stream is not None:
        data["chunks"] = usage.stream.chunks
        if usage.stream.first_chunk_s is not None:
            data["first_chunk_s"] = round(usage.stream.first_chunk_s, 9)
    return data


class ResultsWriter:
    """Appends result records to a JSONL file, flushing each line.

    The path is checked when the writer is made (exit code 2 on a bad one) and the file
    is created by the first :meth:`write`; leaving the ``with`` block without an error
    creates it empty if no result came, leaving it on an error creates nothing.
    ``append`` adds to an existing file (a resumed run) instead of replacing it.
    """

    def __init__(self, path: Path, redactor: Redactor | None = None, *,
                 code: str | None = None, append: bool = False) -> None:
        self.path = path
        self.redactor = redactor or Redactor()
        self.code = code
        self._mode = "a" if append else "w"
        check_output_path("--output", path)
        self._fh: IO[str] | None = None
        self.lines = 0

    def _open(self) -> IO[str]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open(self._mode, encoding="utf-8")
        except OSError as exc:
            raise AgentperfError(f"--output: cannot write {self.path}: {exc.strerror}") from None
        return self._fh

    def write(self, result: TaskResult, input_value: Any) -> None:
        handle = self._fh or self._open()
        record = result_record(result, input_value, self.redactor, self.code)
        handle.write(json.dumps(record, default=repr) + "\n")
        handle.flush()
        self.lines += 1

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ResultsWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is None and self._fh is None and self.lines == 0:
            self._open()
        self.close()
