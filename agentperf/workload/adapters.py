"""One call shape for every agent protocol agentperf accepts.

Agents come as classes with ``execute(input, context)``, AgentMap agents with
``process``/``run``, LangChain runnables with ``invoke``, or plain functions. The
executor, bench and profile only ever see an :class:`AgentAdapter`, so each protocol
is detected once, here.
"""

from __future__ import annotations

import collections.abc
import inspect
import threading
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from agentperf.errors import SpecError
from agentperf.usage.metering import AsyncMetering, meter_async, meter_sync
from agentperf.workload.calling import NO_INPUT, Binding, parameters, positional_arity
from agentperf.workload.loader import resolve

if TYPE_CHECKING:
    import asyncio

__all__ = ["NO_INPUT", "AgentAdapter", "AgentRef", "build_adapter", "takes_input"]


PROTOCOLS = ("execute", "process", "run", "invoke", "stream", "callable")
_METHOD_PAIRS = {
    "execute": ("execute", "execute_async"),
    "process": ("process", "process_async"),
    "run": ("run", "run_async"),
    "invoke": ("invoke", "ainvoke"),
}
#: Protocols only ``call:`` selects (never detected): LangChain's ``stream``/``astream``.
_EXPLICIT_PAIRS = {**_METHOD_PAIRS, "stream": ("stream", "astream")}


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
    #: Dotted path of a function that extracts usage from the agent's result.
    usage: str | None = None

    def build(self) -> AgentAdapter:
        obj = resolve(self.target, search_paths=self.search_paths, source=self.source,
                      key="agent")
        extractor = resolve(self.usage, search_paths=self.search_paths, source=self.source,
                            key="usage") if self.usage else None
        if extractor is not None and not callable(extractor):
            raise SpecError(f"'{self.usage}' is not callable", source=self.source, key="usage")
        return build_adapter(obj, init=self.init, call=self.call, context=self.context,
                             name=self.target, source=self.source,
                             context_param=self.context_param, usage=extractor)


class AgentAdapter:
    """Calls an agent with one input, sync (:meth:`call`) or async (:meth:`acall`).

    A sync agent called from async code runs in a thread; an async agent called from
    sync code runs on an event loop kept per thread, so a thread pool does not pay
    ``asyncio.run`` per call.

    Every call is metered (:mod:`agentperf.usage.metering`): when the call reported LLM
    usage, or streamed, the output comes back wrapped in :class:`~agentperf.usage.Metered`
    with it, which :class:`~agentperf.execution.base.TaskResult` unwraps.
    """

    def __init__(self, fn: Callable[[Any], Any], *, is_async: bool, protocol: str,
                 name: str, agent: Any = None, usage: Callable[[Any], Any] | None = None
                 ) -> None:
        # Every call is metered: usage recorded, read from the result, streams timed.
        self._fn = meter_async(fn, usage) if is_async else meter_sync(fn, usage)
        self._metering = AsyncMetering(fn, usage) if is_async else None
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
        import asyncio  # here: a sync agent outside asyncio mode never needs it (~20 ms)

        return await asyncio.to_thread(self._fn, input_data)

    @property
    def coroutine_function(self) -> Callable[[Any], Awaitable[Any]] | None:
        """For an async agent, the function whose call returns the agent's coroutine.

        :meth:`acall` minus one coroutine frame (~0.5 us): the asyncio executor awaits
        this directly when it dispatches hundreds of thousands of calls. None when sync.
        """
        return self._fn if self.is_async else None

    @property
    def metering(self) -> AsyncMetering | None:
        """For an async agent, the unwrapped agent function and its metering in parts.

        The asyncio backend meters inside its own worker coroutine with these, without
        the coroutine frame of :attr:`coroutine_function` (~0.4 us a call). None when sync.
        """
        return self._metering

    def _thread_loop(self) -> asyncio.AbstractEventLoop:
        loop = getattr(self._local, "loop", None)
        if loop is None or loop.is_closed():
            import asyncio

            loop = asyncio.new_event_loop()
            self._local.loop = loop
        return loop

    def __repr__(self) -> str:
        kind = "async" if self.is_async else "sync"
        return f"AgentAdapter({self.name!r}, protocol={self.protocol}, {kind})"


def build_adapter(obj: Any, *, init: Mapping[str, Any] | None = None, call: str | None = None,
                  context: Mapping[str, Any] | None = None, name: str | None = None,
                  source: str | None = None, context_param: str | None = None,
                  usage: Callable[[Any], Any] | None = None) -> AgentAdapter:
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
    binding = Binding(context, context_param, label, source)
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
        return _adapt_callable(agent, binding, usage)
    return _adapt_method(agent, protocol, binding, usage)


def _instantiate(cls: type, init: dict[str, Any], context: dict[str, Any], call: str | None,
                 source: str | None) -> Any:
    kwargs = dict(init)
    params = parameters(cls)
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
    if _is_async(obj):
        return False
    if init is not None and (init or _callable_without_arguments(obj)):
        return True
    return call in _EXPLICIT_PAIRS or _returns_agent(obj)


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


def _adapt_method(agent: Any, protocol: str, binding: Binding,
                  usage: Callable[[Any], Any] | None = None) -> AgentAdapter:
    label, source = binding.label, binding.source
    sync_name, async_name = _EXPLICIT_PAIRS[protocol]
    sync_method = getattr(agent, sync_name, None)
    async_method = getattr(agent, async_name, None)
    if sync_method is not None and _is_async(sync_method):
        async_method, sync_method = sync_method, None
    if async_method is not None and not _is_async(async_method):
        async_method = None
    if sync_method is None and async_method is None:
        raise SpecError(f"'{label}' has no {sync_name}() or {async_name}() for call: {protocol}",
                        source=source, key="call")
    # Prefer the native async method: an event loop is cheaper than a thread per call.
    method = async_method or sync_method
    is_async = async_method is not None
    fn = binding.bind(method, "invoke" if protocol == "stream" else protocol)
    return AgentAdapter(fn, is_async=is_async, protocol=protocol, name=label, agent=agent,
                        usage=usage)


def _adapt_callable(fn: Any, binding: Binding,
                    usage: Callable[[Any], Any] | None = None) -> AgentAdapter:
    target = _call_target(fn)
    is_async = _is_async(target)
    bound = binding.bind(fn, "callable", signature_of=target)
    return AgentAdapter(bound, is_async=is_async, protocol="callable", name=binding.label,
                        agent=fn, usage=usage)


def _is_async(fn: Any) -> bool:
    """``async def`` or an async generator function (its stream is consumed on a loop)."""
    return inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn)


def takes_input(adapter: AgentAdapter) -> bool:
    """Whether the agent expects an input at all (a no-argument function does not)."""
    target = adapter.agent
    if adapter.protocol != "callable":
        return True
    return positional_arity(_call_target(target)) != 0


def _call_target(fn: Any) -> Any:
    """The function a call runs: ``fn`` itself, or a callable instance's ``__call__``."""
    if inspect.isfunction(fn) or inspect.ismethod(fn) or inspect.isbuiltin(fn):
        return fn
    return type(fn).__call__.__get__(fn) if callable(fn) else fn
