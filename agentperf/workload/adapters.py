"""One call shape for every agent protocol agentperf accepts.

Agents come as classes with ``execute(input, context)``, AgentMap agents with
``process``/``run``, LangChain runnables with ``invoke``, or plain functions. The
executor, bench and profile only ever see an :class:`AgentAdapter`, so each protocol
is detected once, here.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentperf.errors import SpecError
from agentperf.workload.loader import resolve

#: Sentinel input for agents and functions that take no input at all; it pickles by name,
#: so it reaches worker processes (auto probes a sync agent there) as the same object.
NO_INPUT: Any = type("NoInput", (), {"__repr__": lambda self: "NO_INPUT",
                                     "__reduce__": lambda self: "NO_INPUT"})()

FACTORY_PREFIXES = ("make_", "create_", "build_", "new_")
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

    ``target`` names an agent class, an instance, a factory or a function.
    """

    target: str
    init: Mapping[str, Any] = field(default_factory=dict)
    call: str | None = None
    context: Mapping[str, Any] = field(default_factory=dict)
    search_paths: tuple[str, ...] = ()
    source: str | None = None
    version: str | None = None

    def build(self) -> AgentAdapter:
        obj = resolve(self.target, search_paths=self.search_paths, source=self.source,
                      key="agent")
        return build_adapter(obj, init=self.init, call=self.call, context=self.context,
                             name=self.target, source=self.source)


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
                  source: str | None = None) -> AgentAdapter:
    """Turn a class, instance, factory or function into an :class:`AgentAdapter`."""
    init = dict(init or {})
    context = dict(context or {})
    label = name or getattr(obj, "__qualname__", type(obj).__name__)
    if call is not None and call not in PROTOCOLS:
        raise SpecError(f"unknown call protocol '{call}' (expected one of "
                        f"{', '.join(PROTOCOLS)})", source=source, key="call")
    agent = _instantiate(obj, init, context, call, source) if inspect.isclass(obj) else obj
    if _is_factory(obj, init, call):
        agent = _call_factory(obj, init, source)
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
        return _adapt_callable(agent, context, label)
    return _adapt_method(agent, protocol, context, label, source)


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


def _call_factory(factory: Callable[..., Any], init: dict[str, Any], source: str | None) -> Any:
    try:
        return factory(**init)
    except TypeError as exc:
        raise SpecError(f"cannot call factory {getattr(factory, '__qualname__', factory)}"
                        f"(**init): {exc}", source=source, key="init") from exc


def _is_agentmap_style(cls: type) -> bool:
    return any(hasattr(cls, m) for m in ("process", "run", "process_async", "run_async"))


def _is_factory(obj: Any, init: dict[str, Any], call: str | None) -> bool:
    """A function is a factory when given ``init:`` or named like one (make_/create_/build_)."""
    if inspect.isclass(obj) or call == "callable" or not inspect.isfunction(obj):
        return False
    if inspect.iscoroutinefunction(obj):
        return False
    return bool(init) or obj.__name__.startswith(FACTORY_PREFIXES)


def _find_protocol(agent: Any) -> str | None:
    if inspect.isfunction(agent) or inspect.ismethod(agent):
        return None
    for protocol, (sync_name, async_name) in _METHOD_PAIRS.items():
        if callable(getattr(agent, sync_name, None)) or callable(getattr(agent, async_name, None)):
            return protocol
    return None


def _adapt_method(agent: Any, protocol: str, context: dict[str, Any], label: str,
                  source: str | None) -> AgentAdapter:
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
    fn = _bind_context(method, context, protocol)
    return AgentAdapter(fn, is_async=is_async, protocol=protocol, name=label, agent=agent)


def _bind_context(method: Callable[..., Any], context: dict[str, Any],
                  protocol: str) -> Callable[[Any], Any]:
    arity = _positional_arity(method)
    if protocol == "execute" or (arity is not None and arity >= 2 and protocol != "invoke"):
        return lambda data: method(_default(data), context)
    if arity == 0:
        return lambda data: method()
    return lambda data: method(_default(data))


def _adapt_callable(fn: Any, context: dict[str, Any], label: str) -> AgentAdapter:
    target = _call_target(fn)
    is_async = inspect.iscoroutinefunction(target)
    arity = _positional_arity(target)
    if arity == 0:
        def bound(data: Any) -> Any | Awaitable[Any]:
            return fn()
    elif arity is not None and arity >= 2:
        def bound(data: Any) -> Any | Awaitable[Any]:
            return fn(_default(data), context)
    else:
        def bound(data: Any) -> Any | Awaitable[Any]:
            return fn() if data is NO_INPUT else fn(data)
    return AgentAdapter(bound, is_async=is_async, protocol="callable", name=label, agent=fn)


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
