"""``--resume``: continue a batch from the results file of an earlier, unfinished run.

The results file is the record of what ran: one JSON line per finished input with its
index, its input digest, the outcome and the agent's code fingerprint. A resumed run
reads it first and refuses it when it belongs to other inputs or other code (unless
``--resume-anyway``), skips the inputs with a successful row, runs the others (failed
ones again), appends their rows to the same file as they finish, so a crash of the
resumed run loses nothing either, and when it ends rewrites the file atomically with
one row per input.

Rows are kept by index in flat byte arrays, not dicts: a million rows cost about
18 MB. A last line cut off by a crash while it was written is ignored (and cut off
before the resumed run appends); a bad line anywhere else is an error, since then the
file is not one agentperf wrote.
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.execution.base import TaskResult
from agentperf.measure.tally import TaskTally
from agentperf.outputs import write_atomic_lines
from agentperf.pipeline.results_file import input_digest

NONE, FAILED, OK = 0, 1, 2
DIGEST_BYTES = 8  # input_digest is 16 hex characters
_INDEX = re.compile(rb'^\{"index": (\d+),')  # how ResultsWriter starts every row
_OK = b', "ok": true, '  # and how it writes a success (other spellings are parsed)


@dataclass(frozen=True)
class ResumeInfo:
    """What a resumed run took from the earlier one, for the summary and every report."""

    file: str
    rows_from_earlier_run: int  # successful rows kept: their inputs did not run again
    failed_rerun: int  # inputs whose earlier row was a failure, run again
    anyway: bool = False  # --resume-anyway: the checks below were overridden
    code_changed: bool = False  # kept rows were written by other agent code
    replaced_other_inputs: int = 0  # rows of a different input at that index, run again
    dropped_beyond_inputs: int = 0  # rows for indexes past the end of the inputs


class EarlierRows:
    """The rows of a results file by input index: outcome and input digest."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.state = bytearray()  # NONE, FAILED or OK per index
        self.digests = bytearray()  # DIGEST_BYTES per index
        self.codes: dict[str | None, int] = {}  # code fingerprint -> successful rows
        self.end = 0  # bytes of whole, valid lines (a torn last line starts here)
        self.torn = False

    @classmethod
    def read(cls, path: Path) -> EarlierRows:
        rows = cls(path)
        bad: AgentperfError | None = None  # raised only if another line follows
        for offset, number, raw in _lines(path):
            if bad is not None:
                raise bad
            if not raw.endswith(b"\n"):
                rows.torn = True  # the last line, cut by a crash
                break
            try:
                rows._add(_row(raw, path, number))
            except AgentperfError as exc:
                bad = exc
                continue
            rows.end = offset + len(raw)
        rows.torn = rows.torn or bad is not None
        return rows

    def _add(self, row: dict[str, Any]) -> None:
        index, ok = row["index"], row["ok"]
        if index >= len(self.state):
            grow = index + 1 - len(self.state)
            self.state.extend(bytes(grow))
            self.digests.extend(bytes(grow * DIGEST_BYTES))
        if self.state[index] == OK and not ok:
            return  # a success is never replaced by a failure
        self.state[index] = OK if ok else FAILED
        self.digests[index * DIGEST_BYTES : (index + 1) * DIGEST_BYTES] = row["digest"]
        if ok:
            code = row.get("code_fingerprint")
            self.codes[code] = self.codes.get(code, 0) + 1

    def count(self, state: int) -> int:
        return self.state.count(state)

    def digest(self, index: int) -> bytes:
        return bytes(self.digests[index * DIGEST_BYTES : (index + 1) * DIGEST_BYTES])


class ResumePlan:
    """Which inputs to skip, the earlier rows to fold into the summary, and the final file."""

    def __init__(
        self,
        rows: EarlierRows,
        inputs: int,
        *,
        anyway: bool,
        code_changed: bool,
        replaced: int,
        dropped: int,
    ) -> None:
        self.rows = rows
        self.inputs = inputs
        self.anyway = anyway
        self.code_changed = code_changed
        self.replaced = replaced
        self.dropped = dropped
        self.kept = rows.count(OK)
        self.failed = rows.count(FAILED)
        self.folded_cpu_s = 0.0

    def skip(self, index: int) -> bool:
        state = self.rows.state
        return index < len(state) and state[index] == OK

    def info(self) -> ResumeInfo:
        return ResumeInfo(
            str(self.rows.path),
            self.kept,
            self.failed,
            self.anyway,
            self.code_changed,
            self.replaced,
            self.dropped,
        )

    def fold(self, tally: TaskTally) -> int:
        """Add every kept row to ``tally``, so the summary and gates cover the whole batch.

        The rows were checked by :func:`plan_resume`; here only kept ones are parsed.
        """
        state, rows = self.rows.state, self.rows
        seen = bytearray(len(state))
        folded = 0
        for offset, _number, raw in _lines(rows.path):
            if offset >= rows.end:
                break
            match = _INDEX.match(raw)
            if match is not None and state[int(match.group(1))] != OK:
                continue  # a failure, or a row of another input: no need to parse it
            row = json.loads(raw)
            index = row["index"]
            if not row["ok"] or state[index] != OK or seen[index]:
                continue
            seen[index] = 1
            result = _result(row)
            self.folded_cpu_s += result.cpu_s or 0.0
            tally.add(result)
            folded += 1
        return folded

    def prepare_file(self) -> None:
        """Cut off a torn last line, so the rows this run appends start on a line."""
        if self.rows.torn:
            with self.rows.path.open("r+b") as handle:
                handle.truncate(self.rows.end)

    def compact(self) -> None:
        """Rewrite the file atomically with one row per input: a success where there is
        one, else the latest failure; earlier rows of other inputs left out."""
        path, old_end = self.rows.path, self.rows.end
        size = max(self.inputs, len(self.rows.state))
        chosen = array("q", [-1]) * size
        chosen_ok = bytearray(size)
        for offset, index, ok in self._candidates(path, old_end):
            if index >= size or (chosen_ok[index] and not ok):
                continue
            chosen[index], chosen_ok[index] = offset, ok
        write_atomic_lines(
            path,
            (
                raw
                for offset, raw, index in _indexed(path)
                if index is not None and index < size and chosen[index] == offset
            ),
        )

    def _candidates(self, path: Path, old_end: int) -> Iterator[tuple[int, int, bool]]:
        """(offset, index, ok) of every row that may stay, read quickly: the rows before
        ``old_end`` were checked by :func:`plan_resume`, the later ones written by this run."""
        state = self.rows.state
        for offset, raw, index in _indexed(path):
            if index is None:
                continue
            if offset < old_end and (
                index >= self.inputs or index >= len(state) or state[index] == NONE
            ):
                continue  # an earlier row of another input (--resume-anyway)
            yield offset, index, _OK in raw or _is_ok(raw)


def plan_resume(path: Path, inputs: Iterable[Any], code: str | None, *, anyway: bool) -> ResumePlan:
    """Read ``path`` and check it against the inputs and the agent's code; a mismatch is a
    usage error unless ``anyway`` (then those rows are run again or left out)."""
    if not path.is_file():
        raise AgentperfError(
            f"--resume {path}: no such results file (run once without --resume to start the batch)"
        )
    rows = EarlierRows.read(path)
    count, replaced = _match_inputs(rows, inputs, anyway)
    dropped = rows.state.count(OK, count) + rows.state.count(FAILED, count)
    if dropped and not anyway:
        raise AgentperfError(
            f"--resume {path}: the file has rows for inputs past the last of the "
            f"{count:,} inputs: it belongs to other inputs; start over without --resume, "
            "or use --resume-anyway to drop those rows"
        )
    if dropped:
        rows.state[count:] = bytes(len(rows.state) - count)
    other = sorted(str(c) for c in rows.codes if c != code)
    if other and not anyway:
        was = (
            "without a code fingerprint (an older agentperf)"
            if other == ["None"]
            else f"by agent code {', '.join(other)}"
        )
        raise AgentperfError(
            f"--resume {path}: its rows were written {was}, the agent's code is now {code}; "
            "start over without --resume, or use --resume-anyway to keep those rows"
        )
    return ResumePlan(
        rows, count, anyway=anyway, code_changed=bool(other), replaced=replaced, dropped=dropped
    )


def _match_inputs(rows: EarlierRows, inputs: Iterable[Any], anyway: bool) -> tuple[int, int]:
    """(number of inputs, rows of another input cleared): every row's digest must be the
    digest of the input now at its index."""
    state = rows.state
    count = replaced = 0
    try:
        for index, value in enumerate(inputs):
            count += 1
            if index >= len(state) or state[index] == NONE:
                continue
            if bytes.fromhex(input_digest(value)) == rows.digest(index):
                continue
            if not anyway:
                raise AgentperfError(
                    f"--resume {rows.path}: its row for input {index} was written for a "
                    "different input (the inputs changed since); start over without "
                    "--resume, or use --resume-anyway to run such inputs again"
                )
            state[index] = NONE
            replaced += 1
    except AgentperfError:
        raise
    except Exception as exc:  # a generator that fails is the inputs' problem, said once
        raise AgentperfError(
            f"--resume: reading the inputs failed at input {count - 1}: {type(exc).__name__}: {exc}"
        ) from None
    return count, replaced


def _is_ok(raw: bytes) -> bool:
    try:
        row = json.loads(raw)
    except ValueError:
        return False
    return isinstance(row, dict) and row.get("ok") is True


def _lines(path: Path) -> Iterator[tuple[int, int, bytes]]:
    """(byte offset, line number, raw line) of every line of ``path``."""
    with path.open("rb") as handle:
        offset = 0
        for number, raw in enumerate(handle, 1):
            yield offset, number, raw
            offset += len(raw)


def _indexed(path: Path) -> Iterator[tuple[int, bytes, int | None]]:
    """(offset, raw line, its index) of every whole line; a quick read of the index."""
    for offset, _number, raw in _lines(path):
        if not raw.endswith(b"\n"):
            return
        match = _INDEX.match(raw)
        if match:
            yield offset, raw, int(match.group(1))
            continue
        try:
            index = json.loads(raw).get("index")
        except (ValueError, AttributeError):
            index = None
        yield offset, raw, index if isinstance(index, int) else None


def _row(raw: bytes, path: Path, number: int) -> dict[str, Any]:
    """A results row with the fields resuming needs, checked; ``digest`` as bytes."""
    where = f"--resume {path}:{number}"
    try:
        row = json.loads(raw)
    except ValueError:
        raise AgentperfError(
            f"{where}: not a JSON line (is this a results file "
            "written by agentperf run-batch --output?)"
        ) from None
    if not isinstance(row, dict):
        raise AgentperfError(f"{where}: expected a JSON object per line")
    index, ok, digest = row.get("index"), row.get("ok"), row.get("input_digest")
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise AgentperfError(f"{where}: 'index' must be a non-negative integer")
    if not isinstance(ok, bool):
        raise AgentperfError(f"{where}: 'ok' must be true or false")
    try:
        row["digest"] = bytes.fromhex(digest) if isinstance(digest, str) else b""
    except ValueError:
        row["digest"] = b""
    if len(row["digest"]) != DIGEST_BYTES:
        raise AgentperfError(f"{where}: 'input_digest' must be {DIGEST_BYTES * 2} hex digits")
    return row


def _result(row: dict[str, Any]) -> TaskResult:
    """An earlier successful row as the task result it was (output not kept)."""
    get = row.get
    attempts, worker = get("attempts"), get("worker")
    return TaskResult(
        row["index"],
        True,
        None,
        None,
        _number(get("latency_s")) or 0.0,
        _number(get("cpu_s")),
        attempts if type(attempts) is int else 1,
        False,
        worker if type(worker) is str else None,
        bool(get("cache_hit")),
        _number(get("saved_s")) or 0.0,
        bool(get("reran_after_worker_loss")),
        _number(get("service_s")),
    )


def _number(value: Any) -> float | None:
    return float(value) if type(value) in (float, int) else None
