"""The agent's code fingerprint: a hash of the source its answers come from.

A cache key made of the dotted path and ``version:`` alone serves results written by
code that no longer exists. The fingerprint adds the source of the module that defines
the agent (and of the module its dotted path names, for an instance or an app built
there), plus whatever a spec's ``fingerprint:`` list names: files or directories next
to the spec, importable modules or whole packages. Labels are module names and paths
relative to the spec, never absolute paths, so two checkouts of the same code agree.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentperf.errors import SpecError
from agentperf.workload.adapters import AgentRef
from agentperf.workload.loader import importable, resolve

FINGERPRINT_VERSION = b"agentperf-code-fingerprint-v1\x00"
SHORT_CHARS = 12
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")
_SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", ".tox", ".venv", "node_modules"}

Fail = Callable[[str, str], SpecError]


@dataclass(frozen=True)
class CodeFingerprint:
    """A SHA-256 over labelled source files; ``sources`` says what went in."""

    digest: str
    sources: tuple[str, ...]

    @property
    def short(self) -> str:
        return self.digest[:SHORT_CHARS]


def check_fingerprint_entries(raw: Any, base_dir: Path, search_paths: Sequence[str],
                              fail: Fail) -> tuple[str, ...]:
    """Validate a spec's ``fingerprint:`` list now: every entry must exist or import."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise fail("expected a list of files, directories or importable packages",
                   "fingerprint")
    for i, entry in enumerate(raw):
        where = f"fingerprint[{i}]"
        if not isinstance(entry, str) or not entry.strip():
            raise fail("expected a file path or a package name", where)
        if _entry_path(entry, base_dir) is None and _module_spec(entry, search_paths) is None:
            raise fail(f"'{entry}' is neither a file or directory (relative to the spec) "
                       "nor an importable module or package", where)
    return tuple(raw)


def agent_fingerprint(agent: AgentRef, extra: Sequence[str] = (),
                      base_dir: Path | None = None) -> CodeFingerprint:
    """The fingerprint of ``agent``'s defining module(s) plus the ``extra`` entries."""
    base = base_dir or Path.cwd()
    files: list[tuple[str, Path | None]] = []
    for name in _agent_modules(agent):
        files.extend(_module_files(name, whole_package=False))
    for entry in extra:
        path = _entry_path(entry, base)
        if path is not None:
            files.extend(_path_files(path, entry))
        else:
            files.extend(_module_files(entry, whole_package=True, paths=agent.search_paths))
    return _digest(files)


def module_fingerprint(module_name: str) -> CodeFingerprint:
    """The fingerprint of one module's source (``@cached`` functions)."""
    return _digest(_module_files(module_name, whole_package=False))


def _digest(files: Iterable[tuple[str, Path | None]]) -> CodeFingerprint:
    import hashlib  # here: OpenSSL's start-up is ~6 ms, and a plain run hashes nothing

    digest = hashlib.sha256(FINGERPRINT_VERSION)
    labels: list[str] = []
    for label, path in sorted(set(files), key=lambda item: item[0]):
        data = _read(path) if path is not None else b"<no source file>"
        encoded = label.encode("utf-8", "surrogatepass")
        for chunk in (encoded, data):
            digest.update(len(chunk).to_bytes(8, "big"))
            digest.update(chunk)
        labels.append(label)
    return CodeFingerprint(digest.hexdigest(), tuple(labels))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:  # the file went away between the check and the run
        return f"<unreadable: {exc.strerror}>".encode()


def _agent_modules(agent: AgentRef) -> list[str]:
    """The module the dotted path names and the one that defines the object there."""
    obj = resolve(agent.target, search_paths=agent.search_paths, source=agent.source,
                  key="agent")
    names = [_path_module(agent.target)]
    defining = obj if inspect.isclass(obj) or inspect.isroutine(obj) else type(obj)
    module = getattr(defining, "__module__", None)
    if isinstance(module, str) and module not in names and module != "builtins":
        names.append(module)
    return names


def _path_module(dotted: str) -> str:
    """The module part of a dotted path ``resolve`` has already imported."""
    if ":" in dotted:
        return dotted.partition(":")[0]
    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        name = ".".join(parts[:cut])
        if name in sys.modules:
            return name
    return parts[0]


def _module_files(name: str, *, whole_package: bool, paths: Sequence[str] = ()
                  ) -> list[tuple[str, Path | None]]:
    """A module's source file, or every ``.py`` file of a package when ``whole_package``."""
    spec = _module_spec(name, paths)
    locations = list(getattr(spec, "submodule_search_locations", None) or ())
    if whole_package and locations:
        found = []
        for location in locations:
            root = Path(location)
            found.extend((f"package {name}/{path.relative_to(root).as_posix()}", path)
                         for path in _walk(root) if path.suffix == ".py")
        return found
    # A script run as ``python script.py`` is ``__main__`` with no spec, only a file.
    origin = getattr(spec, "origin", None) or getattr(sys.modules.get(name), "__file__", None)
    if origin and Path(origin).is_file():
        return [(f"module {name}", Path(origin))]
    return [(f"module {name}", None)]


def _module_spec(name: str, paths: Sequence[str]) -> Any:
    """The import spec of ``name`` (importing its parent packages), or None."""
    if not _MODULE_NAME.match(name):
        return None
    module = sys.modules.get(name)
    if module is not None and getattr(module, "__spec__", None) is not None:
        return module.__spec__
    try:
        with importable(paths):
            return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _entry_path(entry: str, base_dir: Path) -> Path | None:
    path = Path(entry).expanduser()
    path = path if path.is_absolute() else base_dir / path
    return path if path.exists() else None


def _path_files(path: Path, entry: str) -> list[tuple[str, Path | None]]:
    """A file, or every file under a directory, labelled by the entry as the spec wrote it."""
    label = entry.rstrip("/")
    if path.is_file():
        return [(f"file {label}", path)]
    return [(f"file {label}/{file.relative_to(path).as_posix()}", file) for file in _walk(path)]


def _walk(root: Path) -> Iterator[Path]:
    """Regular files under ``root``, skipping caches and version-control directories."""
    for path in sorted(root.iterdir()):
        if path.is_dir():
            if path.name not in _SKIP_DIRS:
                yield from _walk(path)
        elif path.is_file() and path.suffix not in (".pyc", ".pyo"):
            yield path


def code_digest(code: Any) -> str:
    """A SHA-256 of a code object's bytecode, constants and names, nested code included.

    Two functions with the same module and qualified name (closures of one factory,
    lambdas) but different code get different digests; the same code gets the same
    digest in every process. Bytecode differs between Python versions, and so does this.
    """
    import hashlib

    digest = hashlib.sha256(b"agentperf-code-v1\x00")
    _feed_code(code, digest)
    return digest.hexdigest()


def _feed_code(code: Any, digest: Any) -> None:
    parts: list[bytes] = [code.co_code]
    parts.extend(repr(value).encode() for value in (
        code.co_names, code.co_varnames, code.co_freevars, code.co_cellvars,
        code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_flags))
    for part in parts:
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    for const in code.co_consts:
        _feed_const(const, digest)


def _feed_const(const: Any, digest: Any) -> None:
    if inspect.iscode(const):
        digest.update(b"c")
        _feed_code(const, digest)
        return
    if isinstance(const, (tuple, frozenset)):
        items = list(const) if isinstance(const, tuple) else sorted(const, key=repr)
        digest.update(b"t" + len(items).to_bytes(8, "big"))
        for item in items:
            _feed_const(item, digest)
        return
    text = f"{type(const).__name__}:{const!r}".encode("utf-8", "surrogatepass")
    digest.update(len(text).to_bytes(8, "big"))
    digest.update(text)
