"""Input streams, read lazily so a million inputs cost no more memory than ten.

A file is read twice: once by :meth:`InputSource.validate`, a streaming pass before the
first task so a corrupt line 297 stops the run before 296 agent calls, and once by the
run. Neither pass holds more than one input. Sources that cannot be re-read cheaply
(generators) are not pre-checked; :class:`GuardedInputs` turns their failure mid-run
into an :class:`InputFailure` that ends the stream, so what finished is kept.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from agentperf.errors import AgentperfError, SpecError
from agentperf.workload.adapters import NO_INPUT
from agentperf.workload.loader import resolve

FORMATS = ("jsonl", "json", "csv")
#: Characters read at a time from a JSON-list file.
JSON_CHUNK = 1 << 16
#: A JSON decode error this close to the end of the buffer may be a value cut by the
#: chunk boundary ("tru", "1e-", "\\u00"), so more text is read before calling it bad.
_CUT_MARGIN = 12


class InputError(SpecError):
    """An input file line that does not parse; names the file and line."""


@dataclass(frozen=True)
class InputFailure:
    """The input source failed to produce input ``index`` after the run started."""

    index: int
    message: str


@dataclass(frozen=True)
class InputSource:
    """A re-iterable, lazily read stream of inputs.

    ``kind`` is ``inline``, ``file``, ``generator`` or ``none`` (call once without input).
    ``size`` is the number of inputs in one pass, known once a file was validated.
    """

    kind: str
    items: tuple[Any, ...] = ()
    path: Path | None = None
    format: str | None = None
    generator: str | None = None
    generator_args: Mapping[str, Any] = field(default_factory=dict)
    search_paths: tuple[str, ...] = ()
    repeat: int = 1
    size: int | None = None

    def __iter__(self) -> Iterator[Any]:
        for _ in range(self.repeat):
            yield from self._once()

    def _once(self) -> Iterator[Any]:
        if self.kind == "none":
            yield NO_INPUT
        elif self.kind == "inline":
            yield from self.items
        elif self.kind == "file":
            assert self.path is not None and self.format is not None
            yield from _READERS[self.format](self.path)
        elif self.kind == "generator":
            assert self.generator is not None
            factory: Callable[..., Iterable[Any]] = resolve(
                self.generator, search_paths=self.search_paths, key="inputs.generator")
            yield from factory(**self.generator_args)

    def validate(self) -> InputSource:
        """Parse a file source start to end, one input at a time; raise on the first bad one.

        Returns a copy that knows its size, so :meth:`count` does not read it again.
        Other kinds are returned as they are: a generator is only known by running it.
        """
        if self.kind != "file" or self.size is not None:
            return self
        assert self.path is not None and self.format is not None
        return replace(self, size=sum(1 for _ in _READERS[self.format](self.path)))

    def count(self) -> int | None:
        """How many inputs there are (None for generators).

        An unvalidated file is validated here, so a bad line raises :class:`InputError`
        before any task runs.
        """
        if self.kind == "none":
            return self.repeat
        if self.kind == "inline":
            return len(self.items) * self.repeat
        if self.kind == "file":
            size = self.validate().size
            return None if size is None else size * self.repeat
        return None

    def describe(self) -> str:
        """Where inputs come from, for error messages."""
        if self.kind == "generator":
            return f"generator '{self.generator}'"
        if self.kind == "file":
            return f"input file {self.path}"
        return f"{self.kind} inputs"

    def guarded(self) -> GuardedInputs:
        return GuardedInputs(self)


class GuardedInputs:
    """Iterates a source once; a failure to produce the next input ends the stream.

    The failure is kept in :attr:`failure` with the input's position, so the run can
    finish what it started, report it, and exit 2 instead of dying with a traceback.
    """

    def __init__(self, source: InputSource) -> None:
        self.source = source
        self.failure: InputFailure | None = None

    def __iter__(self) -> Iterator[Any]:
        stream = iter(self.source)
        index = 0
        while True:
            try:
                value = next(stream)
            except StopIteration:
                return
            except (Exception, SystemExit) as exc:  # an agent's generator is not agentperf
                self.failure = InputFailure(index, self._message(index, exc))
                return
            yield value
            index += 1

    def _message(self, index: int, exc: BaseException) -> str:
        where = f"the input source failed producing input {index}"
        if isinstance(exc, AgentperfError):
            return f"{where}: {exc.message}"
        if isinstance(exc, SystemExit):
            what = f"it called sys.exit({exc.code!r})"
        else:
            what = f"{type(exc).__name__}: {exc}"
        return f"{where} ({self.source.describe()}): {what}"


def from_file(path: Path, fmt: str | None = None, *, source: str | None = None,
              key: str = "inputs.file") -> InputSource:
    fmt = fmt or _format_from_suffix(path)
    if fmt not in FORMATS:
        raise SpecError(f"unknown input format '{fmt}' for {path} (expected jsonl, json or csv)",
                        source=source, key=key)
    if not path.is_file():
        raise SpecError(f"input file not found: {path}", source=source, key=key)
    return InputSource(kind="file", path=path, format=fmt)


def _format_from_suffix(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    return {"ndjson": "jsonl", "jsonl": "jsonl", "json": "json", "csv": "csv"}.get(suffix, suffix)


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a UTF-8 file; a byte that is not UTF-8 names its line."""
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"not UTF-8: byte 0x{raw[exc.start]:02x}", source=str(path),
                                 line=number, column=exc.start + 1) from None


def _read_jsonl(path: Path) -> Iterator[Any]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            yield json.loads(line.rstrip("\r\n"))  # so an error at the end is on this line
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", source=str(path), line=number,
                             column=exc.colno) from None


def _read_json(path: Path) -> Iterator[Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            yield from _JsonListReader(fh, str(path))
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc.reason})", source=str(path)) from None


class _JsonListReader:
    """Yields the items of a top-level JSON list one at a time, never the whole list.

    ``json.JSONDecoder.raw_decode`` parses each item out of a rolling buffer; the C
    scanner does the work, this class only finds the commas and brackets between items
    and keeps line and column numbers for the error message.
    """

    def __init__(self, fh: IO[str], name: str) -> None:
        self._fh = fh
        self._name = name
        self._buf = ""
        self._pos = 0
        self._eof = False
        self._line = 1  # line and column of the buffer's first character
        self._col = 1
        self._decode = json.JSONDecoder().raw_decode

    def __iter__(self) -> Iterator[Any]:
        if self._next_char() != "[":
            raise self._error("a JSON input file must hold a list of inputs", self._pos)
        self._pos += 1
        if self._next_char() == "]":
            self._pos += 1
            return self._expect_end()
        while True:
            yield self._value()
            char = self._next_char()
            if char == "]":
                self._pos += 1
                return self._expect_end()
            if char != ",":
                raise self._error("invalid JSON: Expecting ',' delimiter" if char else
                                  "invalid JSON: the list is not closed with ']'", self._pos)
            self._pos += 1

    def _value(self) -> Any:
        if self._next_char() in ("", "]"):
            raise self._error("invalid JSON: Expecting value", self._pos)
        while True:
            try:
                value, end = self._decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._may_be_cut(exc) and self._fill():
                    continue
                raise self._error(f"invalid JSON: {exc.msg}", exc.pos) from None
            if end >= len(self._buf) - _CUT_MARGIN and self._fill():
                continue  # a number may go on in the next chunk ("1" of "1e5")
            self._pos = end
            return value

    def _may_be_cut(self, exc: json.JSONDecodeError) -> bool:
        return exc.pos >= len(self._buf) - _CUT_MARGIN or exc.msg.startswith("Unterminated")

    def _next_char(self) -> str:
        """The next non-space character (not consumed), or "" at the end of the file."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._fill():
                return ""

    def _fill(self) -> bool:
        """Drop what was parsed, read one more chunk; False at the end of the file."""
        if self._eof:
            return False
        # Doubling: a value longer than a chunk is re-parsed O(log n) times, not O(n).
        chunk = self._fh.read(max(JSON_CHUNK, len(self._buf) - self._pos))
        if not chunk:
            self._eof = True
            return False
        self._advance(self._pos)
        self._buf += chunk
        return True

    def _advance(self, cut: int) -> None:
        gone = self._buf[:cut]
        newlines = gone.count("\n")
        if newlines:
            self._line += newlines
            self._col = cut - gone.rfind("\n")
        else:
            self._col += cut
        self._buf = self._buf[cut:]
        self._pos -= cut

    def _expect_end(self) -> None:
        if self._next_char():
            raise self._error("invalid JSON: Extra data after the list", self._pos)

    def _error(self, message: str, pos: int) -> InputError:
        before = self._buf[:pos]
        newlines = before.count("\n")
        line = self._line + newlines
        column = pos - before.rfind("\n") if newlines else self._col + pos
        return InputError(message, source=self._name, line=line, column=column)


def _read_csv(path: Path) -> Iterator[Any]:
    """Rows as dicts, exactly as ``csv.DictReader`` gives them (blank lines are no input)."""
    name = str(path)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            try:
                for row in reader:
                    if None in row:
                        raise InputError(f"{len(reader.fieldnames or ()) + len(row[None])} "
                                         f"fields, the header has {len(reader.fieldnames or ())}",
                                         source=name, line=reader.line_num)
                    yield row
            except csv.Error as exc:
                raise InputError(f"invalid CSV: {exc}", source=name,
                                 line=reader.line_num) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 ({exc.reason})", source=name) from None


_READERS: dict[str, Callable[[Path], Iterator[Any]]] = {
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
}
