"""Resolve dotted paths (``pkg.mod:Name`` or ``pkg.mod.Name``) to Python objects."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable
from contextlib import contextmanager, suppress
from typing import Any

from agentperf.errors import SpecError, did_you_mean


@contextmanager
def importable(paths: Iterable[str]):
    """Put ``paths`` at the front of ``sys.path`` for the duration of an import."""
    added = [p for p in paths if p not in sys.path]
    sys.path[:0] = added
    try:
        yield
    finally:
        for p in added:
            with suppress(ValueError):
                sys.path.remove(p)


def ensure_importable(paths: Iterable[str]) -> None:
    """Put ``paths`` on ``sys.path`` for good (worker processes rebuilding an agent)."""
    for p in reversed(list(paths)):
        if p not in sys.path:
            sys.path.insert(0, p)


def resolve(dotted: str, *, search_paths: Iterable[str] = (), source: str | None = None,
            key: str | None = None) -> Any:
    """Import the object named by ``dotted``.

    ``pkg.mod:Name.attr`` splits module and attribute at the colon; without one, the
    longest importable module prefix wins, as ``pkg.mod.Name`` reads naturally.
    """
    if not isinstance(dotted, str) or not dotted.strip():
        raise SpecError("expected a dotted path like 'package.module:Name'", source=source, key=key)
    ensure_importable(search_paths)
    if ":" in dotted:
        module_name, _, attr_path = dotted.partition(":")
        module = _import_module(module_name, dotted, source, key)
        return _get_attr_path(module, attr_path, dotted, source, key)
    parts = dotted.split(".")
    last_error: BaseException | None = None
    for cut in range(len(parts) - 1, 0, -1):
        module_name = ".".join(parts[:cut])
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and not module_name.startswith(exc.name) and exc.name != module_name:
                raise SpecError(f"importing '{dotted}' failed: {exc}", source=source,
                                key=key) from exc
            last_error = exc
            continue
        except (Exception, SystemExit) as exc:
            raise SpecError(f"importing '{module_name}' failed: {_describe(exc)}",
                            source=source, key=key) from exc
        return _get_attr_path(module, ".".join(parts[cut:]), dotted, source, key)
    raise SpecError(f"cannot import '{dotted}': {last_error or 'no module part'} "
                    "(use 'package.module:Name'; the current directory and the spec's "
                    "directory are importable)", source=source, key=key)


def _import_module(name: str, dotted: str, source: str | None, key: str | None) -> Any:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise SpecError(f"cannot import module '{name}' of '{dotted}': {exc}",
                        source=source, key=key) from exc
    except (Exception, SystemExit) as exc:
        raise SpecError(f"importing '{name}' failed: {_describe(exc)}",
                        source=source, key=key) from exc


def _describe(exc: BaseException) -> str:
    """What went wrong on import; a module's ``sys.exit(5)`` is not agentperf's exit code."""
    if isinstance(exc, SystemExit):
        return f"the module called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def _get_attr_path(obj: Any, attr_path: str, dotted: str, source: str | None,
                   key: str | None) -> Any:
    for attr in filter(None, attr_path.split(".")):
        try:
            obj = getattr(obj, attr)
        except AttributeError:
            names = [n for n in dir(obj) if not n.startswith("_")]
            hint = did_you_mean(attr, names)
            raise SpecError(f"'{dotted}': no attribute '{attr}'{hint}",
                            source=source, key=key) from None
    return obj

