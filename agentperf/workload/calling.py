"""How one agent function is called: with or without an input, and where the context goes.

Kept apart from the protocol detection in :mod:`agentperf.workload.adapters`, which decides
*which* function to call; this module decides *how*, from its signature.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from agentperf.errors import SpecError


class _NoInput:
    """The input of an agent that takes none.

    One instance, pickled by name (``__reduce__`` returns the module attribute), so a
    worker process or a Dask worker unpickles it to its own ``NO_INPUT`` and ``is``
    checks keep working across a process boundary.
    """

    __slots__ = ()
    _instance: _NoInput | None = None

    def __new__(cls) -> _NoInput:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_INPUT"

    def __reduce__(self) -> str:
        return "NO_INPUT"


#: Sentinel input for agents and functions that take no input at all.
NO_INPUT: Any = _NoInput()

#: A second parameter with one of these names (or ending in ``_`` + one of them) gets
#: the context even when it has a default; see :class:`Binding`.
CONTEXT_NAMES = ("context", "ctx", "state")


@dataclass(frozen=True)
class Binding:
    """How one agent function is called: with or without input, and where the context goes.

    The context goes to the second positional parameter when it is required (no
    default) or named like a context (:func:`is_context_name`); else to a keyword-only
    parameter named like one; else nowhere. ``execute(input, context)`` always gets it
    (that is the protocol), ``invoke`` never (its second parameter is LangChain's
    config). A spec's ``context_param:`` names the parameter and overrides all of this.
    """

    context: dict[str, Any]
    context_param: str | None
    label: str
    source: str | None

    def bind(self, fn: Callable[..., Any], protocol: str,
             signature_of: Any = None) -> Callable[[Any], Any]:
        target = fn if signature_of is None else signature_of
        slot = self._slot(target, protocol)
        takes = positional_arity(target) != 0
        context = self.context
        if slot is None:
            if not takes:
                return lambda data: fn()
            if protocol == "callable":
                return lambda data: fn() if data is NO_INPUT else fn(data)
            return lambda data: fn(default_input(data))
        if slot == "":
            return lambda data: fn(default_input(data), context)
        kwargs = {slot: context}
        if not takes:
            return lambda data: fn(**kwargs)
        return lambda data: fn(default_input(data), **kwargs)

    def _slot(self, fn: Any, protocol: str) -> str | None:
        """None: no context; "": the second positional argument; a name: that keyword."""
        params = parameters(fn)
        if self.context_param:
            return self._named_slot(params)
        positional = [p for p in params.values() if p.kind in (
            inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        if protocol == "invoke":
            return None
        if len(positional) >= 2:
            second = positional[1]
            if protocol == "execute" or second.default is inspect.Parameter.empty or \
                    is_context_name(second.name):
                return ""
        for p in params.values():
            if p.kind is inspect.Parameter.KEYWORD_ONLY and is_context_name(p.name):
                return p.name
        if protocol == "execute" and positional_arity(fn) is None:
            return ""  # execute(*args): the protocol says (input, context)
        return None

    def _named_slot(self, params: Mapping[str, inspect.Parameter]) -> str:
        name = self.context_param
        assert name is not None
        param = params.get(name)
        if param is None:
            if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
                return name
            raise SpecError(f"'{self.label}' has no parameter '{name}' to receive the "
                            f"context (parameters: {', '.join(params) or 'none'})",
                            source=self.source, key="context_param")
        if list(params).index(name) == 0:
            raise SpecError(f"'{self.label}': context_param '{name}' is the parameter that "
                            "takes the input", source=self.source, key="context_param")
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            if list(params).index(name) != 1:
                raise SpecError(f"'{self.label}': context_param '{name}' is positional-only "
                                "and not the second parameter", source=self.source,
                                key="context_param")
            return ""
        return name


def is_context_name(name: str) -> bool:
    """``context``, ``ctx``, ``state``, or a name ending in ``_context``/``_ctx``/``_state``."""
    return name in CONTEXT_NAMES or name.endswith(tuple(f"_{n}" for n in CONTEXT_NAMES))


def default_input(data: Any) -> Any:
    return None if data is NO_INPUT else data


def parameters(obj: Any) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return {}


def positional_arity(fn: Any) -> int | None:
    """Positional parameters a call may pass (None when it takes ``*args``)."""
    params = parameters(fn)
    if not params:
        try:
            inspect.signature(fn)
        except (TypeError, ValueError):
            return None
        return 0
    count = 0
    for p in params.values():
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        positional = p.kind in (inspect.Parameter.POSITIONAL_ONLY,
                                inspect.Parameter.POSITIONAL_OR_KEYWORD)
        if positional and (p.default is inspect.Parameter.empty or count < 2):
            count += 1
    return count
