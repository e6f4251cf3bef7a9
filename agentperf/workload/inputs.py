"""Input streams, read lazily so a million inputs cost no more memory than ten."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentperf.errors import SpecError
from agentperf.workload.adapters import NO_INPUT
from agentperf.workload.loader import resolve

FORMATS = ("jsonl", "json", "csv")


class InputError(SpecError):
    """An input file line that does not parse; names the file and line."""


@dataclass(frozen=True)
class InputSource:
    """A re-iterable, lazily read stream of inputs.

    ``kind`` is ``inline``, ``file``, ``generator`` or ``none`` (call once without input).
    """

    kind: str
    items: tuple[Any, ...] = ()
    path: Path | None = None
    format: str | None = None
    generator: str | None = None
    generator_args: Mapping[str, Any] = field(default_factory=dict)
    search_paths: tuple[str, ...] = ()
    repeat: int = 1

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

    def count(self) -> int | None:
        """How many inputs there are, when that is cheap to know (None for generators)."""
        if self.kind == "none":
            return self.repeat
        if self.kind == "inline":
            return len(self.items) * self.repeat
        if self.kind == "file" and self.format == "jsonl" and self.path is not None:
            with self.path.open("rb") as fh:
                return sum(1 for line in fh if line.strip()) * self.repeat
        if self.kind == "file" and self.format == "csv" and self.path is not None:
            with self.path.open(newline="", encoding="utf-8") as fh:
                return max(sum(1 for _ in csv.reader(fh)) - 1, 0) * self.repeat
        return None


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


def _read_jsonl(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"invalid JSON: {exc.msg}", source=str(path), line=number,
                                 column=exc.colno) from None


def _read_json(path: Path) -> Iterator[Any]:
    with path.open(encoding="utf-8") as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc.msg}", source=str(path), line=exc.lineno,
                             column=exc.colno) from None
    if not isinstance(data, list):
        raise InputError("a JSON input file must hold a list of inputs", source=str(path))
    yield from data


def _read_csv(path: Path) -> Iterator[Any]:
    with path.open(newline="", encoding="utf-8") as fh:
        yield from csv.DictReader(fh)


_READERS: dict[str, Callable[[Path], Iterator[Any]]] = {
    "jsonl": _read_jsonl,
    "json": _read_json,
    "csv": _read_csv,
}
