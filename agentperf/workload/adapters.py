"""One call shape for every agent protocol agentperf accepts.

Agents come as classes with ``execute(input, context)``, AgentMap agents with
``process``/``run``, LangChain runnables with ``invoke``, or plain functions. The
executor, bench and profile only ever see an :class:`AgentAdapter`, so each protocol
is detected once, here.
"""

from __future__ import annotations

import asyncio
import collections.abc
import inspect
import threading
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentperf.errors import SpecError
from agentperf.workload.loader import resolve


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
#: the context even when it has a default; see :func:`_context_slot`.
CONTEXT_NAMES = ("context", "ctx", "state")
PROTOCOLS = ("execute", "process", "run", "invoke", "callable")
_METHOD_PAIRS = {
    "execute": ("execute", "execute_async"),
    "process": ("process", "process_async"),
    "run": ("run", "run_async"),
    "invoke": ("invoke", "ainvoke"),
}


@dataclass(frozen=True)
class AgentRef:
    """A picklable recipe for an agent, so worker processes rebuild it, never unpickle it.

    ``target`` names an agent class, an instance, a factory or a function. ``init`` is
    None when the spec has no ``init:`` key: a function given ``init:`` (even ``{}``) is
    a factory. ``context_param`` names the parameter that receives the context.
    """

    target: str
    init: Mapping[str, Any] | None = None
    call: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    search_paths: tuple[str, ...] = ()
    source: str | None = None
    version: str | None = None
    context_param: str | None = None

    def build(self) -> AgentAdapter:
        obj = resolve(self.target, search_paths=self.search_paths, source=self.source,
                      key="agent")
        return build_adapter(obj, init=self.init, call=self.call, context=self.context,
                             name=self.target, source=self.source,
                             context_param=self.context_param)


class AgentAdapter:
    """Calls an agent with one input, sync (:meth:`call`) or async (:meth:`acall`).

    A sync agent called from async code runs in a thread; an async agent called from
    sync code runs on an event loop kept per thread, so a thread pool does not pay
    ``asyncio.run`` per call.
    """

    def __init__(self, fn: Callable[[Any], Any], *, is_async: bool, protocol: str,
                 name: str, agent: Any = None) -> None:
        self._fn = fn
        self.is_async = is_async
        self.protocol = protocol
        self.name = name
        self.agent = agent
        self._local = threading.local()

    def call(self, input_data: Any = NO_INPUT) -> Any:
        if not self.is_async:
            return self._fn(input_data)
        return self._thread_loop().run_until_complete(self._fn(input_data))

    async def acall(self, input_data: Any = NO_INPUT) -> Any:
        if self.is_async:
            return await self._fn(input_data)
        return await asyncio.to_thread(self._fn, input_data)

    @property
    def coroutine_function(self) -> Callable[[Any], Awaitable[Any]] | None:
        """For an async agent, the function whose call returns the agent's coroutine.

        :meth:`acall` minus one coroutine frame (~0.5 us): the asyncio executor awaits
        this directly when it dispatches hundreds of thousands of calls. None when sync.
        """
        return self._fn if self.is_async else None

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        loop = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            loop = asyncio.new_event_loop()
            self._local.loop = loop
        return loop

    def __repr__(self) -> str:
        kind = "async" if self.is_async else "sync"
        return f"AgentAdapter({self.name!r}, protocol={self.protocol}, {kind})"


def build_adapter(obj: Any, *, init: Mapping[str, Any] | None = None, call: str | None = None,
                  context: Mapping[str, Any] | None = None, name: str | None = None,
                  source: str | None = None, context_param: str | None = None) -> AgentAdapter:
    """Turn a class, instance, factory or function into an :class:`AgentAdapter`.

    ``init`` None means "not given": a function is then a factory only when its return
    annotation is an agent type (see :func:`_is_factory`).
    """
    given_init = init is not None
    init = dict(init or {})
    context = dict(context or {})
    label = name or getattr(obj, "__qualname__", type(obj).__name__)
    if call is not None and call not in PROTOCOLS:
        raise SpecError(f"unknown call protocol '{call}' (expected one of "
                        f"{', '.join(PROTOCOLS)})", source=source, key="call")
    agent = _instantiate(obj, init, context, call, source) if inspect.isclass(obj) else obj
    if _is_factory(obj, init if given_init else None, call):
        agent = _call_factory(obj, init, source)
    binding = _Binding(context, context_param, label, source)
    protocol = call or _find_protocol(agent)
    if protocol is None:
        if not callable(agent):
            raise SpecError(f"'{label}' is not callable and has none of execute, process, "
                            "run or invoke", source=source, key="agent")
        protocol = "callable"
    if protocol == "callable":
        if not callable(agent):
            raise SpecError(f"'{label}' is not callable (call: callable)", source=source,
                            key="call")
        return _adapt_callable(agent, binding)
    return _adapt_method(agent, protocol, binding)


def _instantiate(cls: type, init: dict[str, Any], context: dict[str, Any], call: str | None,
                 source: str | None) -> Any:
    kwargs = dict(init)
    params = _parameters(cls)
    if "context" in params and "context" not in kwargs and _is_agentmap_style(cls):
        kwargs["context"] = context
    if "name" in params and "name" not in kwargs and params["name"].default is \
            inspect.Parameter.empty:
        kwargs["name"] = cls.__name__
    if "prompt" in params and "prompt" not in kwargs and params["prompt"].default is \
            inspect.Parameter.empty:
        kwargs["prompt"] = ""
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise SpecError(f"cannot construct {cls.__qualname__}(**init): {exc}", source=source,
                        key="init") from exc
    except (Exception, SystemExit) as exc:
        raise SpecError(f"constructing {cls.__qualname__} failed: {_describe(exc)}",
                        source=source, key="init") from exc


def _call_factory(factory: Callable[..., Any], init: dict[str, Any], source: str | None) -> Any:
    label = getattr(factory, "__qualname__", factory)
    try:
        return factory(**init)
    except TypeError as exc:
        raise SpecError(f"cannot call factory {label}(**init): {exc}", source=source,
                        key="init") from exc
    except (Exception, SystemExit) as exc:
        raise SpecError(f"factory {label} failed: {_describe(exc)}", source=source,
                        key="init") from exc


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called sys.exit({exc.code!r})"
    return f"{type(exc).__name__}: {exc}"


def _is_agentmap_style(cls: type) -> bool:
    return any(hasattr(cls, m) for m in ("process", "run", "process_async", "run_async"))


def _is_factory(obj: Any, init: dict[str, Any] | None, call: str | None) -> bool:
    """A function is a factory when the spec gives it ``init:`` arguments (or an empty
    ``init: {}`` and it needs no argument), when ``call:`` names a method (a function has
    none, so it must make the object that has), or when its return annotation is an
    agent type. Never by its name: ``build_report`` is an agent.
    """
    if inspect.isclass(obj) or call == "callable" or not inspect.isfunction(obj):
        return False
    if inspect.iscoroutinefunction(obj):
        return False
    if init is not None and (init or _callable_without_arguments(obj)):
        return True
    return call in _METHOD_PAIRS or _returns_agent(obj)


def _callable_without_arguments(fn: Callable[..., Any]) -> bool:
    try:
        inspect.signature(fn).bind()
    except (TypeError, ValueError):
        return False
    return True


def _returns_agent(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is annotated to return a callable or an object with an agent method."""
    try:
        returned = typing.get_type_hints(fn).get("return")
    except Exception:  # an annotation that does not resolve says nothing
        return False
    if typing.get_origin(returned) is collections.abc.Callable:
        return True
    if not inspect.isclass(returned) or returned.__module__ == "builtins":
        return False
    methods = {name for pair in _METHOD_PAIRS.values() for name in pair}
    return any(callable(getattr(returned, m, None)) for m in methods) or any(
        "__call__" in vars(k) for k in returned.__mro__ if k is not object)


def _find_protocol(agent: Any) -> str | None:
    if inspect.isfunction(agent) or inspect.ismethod(agent):
        return None
    for protocol, (sync_name, async_name) in _METHOD_PAIRS.items():
        if callable(getattr(agent, sync_name, None)) or callable(getattr(agent, async_name, None)):
            return protocol
    return None


def _adapt_method(agent: Any, protocol: str, binding: _Binding) -> AgentAdapter:
    label, source = binding.label, binding.source
    sync_name, async_name = _METHOD_PAIRS[protocol]
    sync_method = getattr(agent, sync_name, None)
    async_method = getattr(agent, async_name, None)
    if sync_method is not None and inspect.iscoroutinefunction(sync_method):
        async_method, sync_method = sync_method, None
    if async_method is not None and not inspect.iscoroutinefunction(async_method):
        async_method = None
    if sync_method is None and async_method is None:
        raise SpecError(f"'{label}' has no {sync_name}() or {async_name}() for call: {protocol}",
                        source=source, key="call")
    # Prefer the native async method: an event loop is cheaper than a thread per call.
    method = async_method or sync_method
    is_async = async_method is not None
    fn = binding.bind(method, protocol)
    return AgentAdapter(fn, is_async=is_async, protocol=protocol, name=label, agent=agent)


def _adapt_callable(fn: Any, binding: _Binding) -> AgentAdapter:
    target = _call_target(fn)
    is_async = inspect.iscoroutinefunction(target)
    bound = binding.bind(fn, "callable", signature_of=target)
    return AgentAdapter(bound, is_async=is_async, protocol="callable", name=binding.label,
                        agent=fn)


@dataclass(frozen=True)
class _Binding:
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
        takes = _positional_arity(target) != 0
        context = self.context
        if slot is None:
            if not takes:
                return lambda data: fn()
            if protocol == "callable":
                return lambda data: fn() if data is NO_INPUT else fn(data)
            return lambda data: fn(_default(data))
        if slot == "":
            return lambda data: fn(_default(data), context)
        kwargs = {slot: context}
        if not takes:
            return lambda data: fn(**kwargs)
        return lambda data: fn(_default(data), **kwargs)

    def _slot(self, fn: Any, protocol: str) -> str | None:
        """None: no context; "": the second positional argument; a name: that keyword."""
        params = _parameters(fn)
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
        if protocol == "execute" and _positional_arity(fn) is None:
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


def _default(data: Any) -> Any:
    return None if data is NO_INPUT else data


def _parameters(obj: Any) -> Mapping[str, inspect.Parameter]:
    try:
        return inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return {}


def _positional_arity(fn: Any) -> int | None:
    """Positional parameters a call may pass (None when it takes ``*args``)."""
    params = _parameters(fn)
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


def takes_input(adapter: AgentAdapter) -> bool:
    """Whether the agent expects an input at all (a no-argument function does not)."""
    target = adapter.agent
    if adapter.protocol != "callable":
        return True
    return _positional_arity(_call_target(target)) != 0


def _call_target(fn: Any) -> Any:
    """The function a call runs: ``fn`` itself, or a callable instance's ``__call__``."""
    if inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn):
        return fn
    return type(fn).__call__.__get__(fn) if callable(fn) else fn
