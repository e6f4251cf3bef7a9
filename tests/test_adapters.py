"""Every agent protocol agentperf accepts, through the one AgentAdapter call shape.

The classes here have the same shape as the real thing (the performance guide's
``execute`` agents, AgentMap's ``process``/``run`` agents with a (name, prompt, context)
constructor, LangChain-style runnables), without their dependencies.
"""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agentperf.errors import SpecError
from agentperf.workload.adapters import NO_INPUT, AgentRef, build_adapter, takes_input

TESTS_DIR = Path(__file__).resolve().parent
CONTEXT = {"tenant": "acme"}


class ExecuteAgent:
    def execute(self, input_data: Any, context: dict[str, Any]) -> Any:
        return {"echo": input_data, "tenant": context["tenant"]}


class AsyncExecuteAgent:
    async def execute_async(self, input_data: Any, context: dict[str, Any]) -> Any:
        await asyncio.sleep(0)
        return {"echo": input_data, "tenant": context["tenant"]}


class AgentMapProcess:
    def __init__(self, name: str, prompt: str, context: dict[str, Any] | None = None) -> None:
        self.name, self.prompt, self.context = name, prompt, context or {}

    def process(self, inputs: Any) -> Any:
        return f"{self.name}:{self.context.get('tenant')}:{inputs}"


class AgentMapProcessAsync(AgentMapProcess):
    async def process_async(self, inputs: Any) -> Any:
        return f"async {self.process(inputs)}"


class AgentMapRun:
    def __init__(self, name: str, prompt: str, context: dict[str, Any] | None = None) -> None:
        self.name, self.prompt = name, prompt

    def run(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "ran_by": self.name, "prompt": self.prompt}


class AgentMapRunAsync(AgentMapRun):
    async def run_async(self, state: dict[str, Any]) -> dict[str, Any]:
        return {**state, "async": True}


class Runnable:
    def invoke(self, value: Any) -> Any:
        return ("invoke", value)

    async def ainvoke(self, value: Any) -> Any:
        return ("ainvoke", value)


class SyncRunnable:
    def invoke(self, value: Any) -> Any:
        return ("invoke", value)


class TwoProtocols:
    def execute(self, input_data: Any, context: dict[str, Any]) -> Any:
        return "execute"

    def invoke(self, value: Any) -> Any:
        return "invoke"


class Configured:
    def __init__(self, factor: int) -> None:
        self.factor = factor

    def execute(self, input_data: Any, context: dict[str, Any]) -> Any:
        return input_data * self.factor


class Nothing:
    pass


def one_arg(x: Any) -> Any:
    return ("one", x)


def with_context(x: Any, context: dict[str, Any]) -> Any:
    return ("two", x, context["tenant"])


async def async_fn(x: Any) -> Any:
    await asyncio.sleep(0)
    return ("async", x)


def no_input() -> str:
    return "called without input"


def make_agent(factor: int = 3) -> Configured:
    return Configured(factor)


def adapt(obj: Any, **kwargs: Any) -> Any:
    return build_adapter(obj, context=CONTEXT, **kwargs)


def both(adapter: Any, value: Any) -> tuple[Any, Any]:
    """The sync and the async call of one adapter, which must agree."""
    return adapter.call(value), asyncio.run(adapter.acall(value))


def test_execute_protocol_passes_input_and_context() -> None:
    adapter = adapt(ExecuteAgent)
    assert adapter.protocol == "execute" and not adapter.is_async
    assert both(adapter, 5) == ({"echo": 5, "tenant": "acme"},) * 2


def test_execute_async_protocol() -> None:
    adapter = adapt(AsyncExecuteAgent)
    assert adapter.protocol == "execute" and adapter.is_async
    assert both(adapter, 5) == ({"echo": 5, "tenant": "acme"},) * 2


def test_agentmap_process_agent_is_built_with_name_prompt_context() -> None:
    adapter = adapt(AgentMapProcess)
    assert adapter.protocol == "process"
    assert adapter.call("hi") == "AgentMapProcess:acme:hi"
    assert adapter.agent.prompt == ""


def test_agentmap_process_async_is_preferred() -> None:
    adapter = adapt(AgentMapProcessAsync, init={"name": "n", "prompt": "p"})
    assert adapter.is_async and adapter.call("x") == "async n:acme:x"


def test_agentmap_run_and_run_async() -> None:
    run = adapt(AgentMapRun, init={"name": "runner", "prompt": "be brief"})
    assert run.protocol == "run"
    assert run.call({"q": 1}) == {"q": 1, "ran_by": "runner", "prompt": "be brief"}
    run_async = adapt(AgentMapRunAsync)
    assert run_async.is_async and run_async.call({"q": 1}) == {"q": 1, "async": True}


def test_runnable_invoke_and_ainvoke() -> None:
    adapter = adapt(Runnable())
    assert adapter.protocol == "invoke" and adapter.is_async
    assert both(adapter, 1) == (("ainvoke", 1), ("ainvoke", 1))
    sync = adapt(SyncRunnable())
    assert not sync.is_async and both(sync, 1) == (("invoke", 1), ("invoke", 1))


def test_real_langgraph_graph_is_an_invoke_runnable() -> None:
    from langgraph.graph import END, START, StateGraph
    from typing_extensions import TypedDict

    class State(TypedDict):
        text: str

    graph = StateGraph(State)
    graph.add_node("upper", lambda s: {"text": s["text"].upper()})
    graph.add_edge(START, "upper")
    graph.add_edge("upper", END)
    adapter = adapt(graph.compile())
    assert adapter.protocol == "invoke"
    assert adapter.call({"text": "hi"}) == {"text": "HI"}


def test_plain_functions() -> None:
    assert both(adapt(one_arg), 2) == (("one", 2), ("one", 2))
    assert both(adapt(with_context), 2) == (("two", 2, "acme"),) * 2
    assert both(adapt(async_fn), 2) == (("async", 2),) * 2
    assert adapt(async_fn).is_async


def test_function_without_input() -> None:
    adapter = adapt(no_input)
    assert not takes_input(adapter)
    assert adapter.call(NO_INPUT) == "called without input"
    assert adapter.call() == "called without input"
    assert takes_input(adapt(one_arg))


def test_factory_is_called_with_init() -> None:
    adapter = adapt(make_agent, init={"factor": 10})
    assert adapter.protocol == "execute" and adapter.call(4) == 40
    assert adapt(make_agent).call(4) == 12  # no init: its return annotation says factory


def test_instance_and_class_with_init() -> None:
    assert adapt(Configured(2)).call(4) == 8
    assert adapt(Configured, init={"factor": 5}).call(4) == 20


def test_call_override_picks_the_protocol() -> None:
    assert adapt(TwoProtocols()).call(None) == "execute"  # detection order
    assert adapt(TwoProtocols(), call="invoke").call(None) == "invoke"


def test_call_override_to_a_missing_method_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="no invoke"):
        adapt(ExecuteAgent(), call="invoke")
    with pytest.raises(SpecError, match="unknown call protocol"):
        adapt(ExecuteAgent(), call="dance")


def test_class_that_fits_no_protocol_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="none of execute, process, run or invoke"):
        adapt(Nothing)


def test_class_that_cannot_be_constructed_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="cannot construct"):
        adapt(Configured)  # 'factor' is required and not given


def test_agent_ref_rebuilds_from_a_dotted_path() -> None:
    ref = AgentRef("agents_for_tests:double", search_paths=(str(TESTS_DIR),))
    assert ref.build().call(21) == 42
    with pytest.raises(SpecError):
        AgentRef("agents_for_tests:no_such_agent", search_paths=(str(TESTS_DIR),)).build()


def test_async_agent_called_sync_from_many_threads() -> None:
    """Threads mode calls async agents through a loop kept per thread."""
    from concurrent.futures import ThreadPoolExecutor

    adapter = adapt(async_fn)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(adapter.call, range(20))) == [("async", i) for i in range(20)]


def test_call_callable_on_a_non_callable_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="not callable"):
        adapt(ExecuteAgent(), call="callable")


# --- the adapter table: what each signature is called with -------------------------------

def defaulted_second(x: Any, retries: int = 3) -> Any:
    return ("x", x, retries)


def required_second(x: Any, y: Any) -> Any:
    return ("y", x, y)


def ctx_default(x: Any, ctx: Any = None) -> Any:
    return ("ctx", x, ctx)


def suffix_state(x: Any, agent_state: Any = None) -> Any:
    return ("state", x, agent_state)


def keyword_context(x: Any, *, context: Any = None, verbose: bool = False) -> Any:
    return ("kw", x, context, verbose)


def opts_param(x: Any, opts: Any = None) -> Any:
    return ("opts", x, opts)


def build_report(data: Any) -> str:
    return f"report of {data}"


def create_summary() -> str:
    return "summary"


def new_callable() -> Callable[[Any], Any]:
    return lambda x: ("made", x)


class DebugProcess:
    def process(self, inputs: Any, debug: bool = False) -> Any:
        return ("process", inputs, debug)


class StateRun:
    def run(self, state: Any, run_state: Any = None) -> Any:
        return ("run", state, run_state)


class OneArgExecute:
    def execute(self, input_data: Any) -> Any:
        return ("execute", input_data)


class InvokeWithConfig:
    def invoke(self, value: Any, config: Any = None) -> Any:
        return ("invoke", value, config)


@pytest.mark.parametrize(
    ("agent", "kwargs", "value", "expected"),
    [
        (defaulted_second, {}, 5, ("x", 5, 3)),  # a default is not a context slot
        (required_second, {}, 5, ("y", 5, CONTEXT)),  # a required one is
        (ctx_default, {}, 5, ("ctx", 5, CONTEXT)),  # named like a context
        (suffix_state, {}, 5, ("state", 5, CONTEXT)),
        (keyword_context, {}, 5, ("kw", 5, CONTEXT, False)),
        (opts_param, {}, 5, ("opts", 5, None)),
        (opts_param, {"context_param": "opts"}, 5, ("opts", 5, CONTEXT)),
        (keyword_context, {"context_param": "verbose"}, 5, ("kw", 5, None, CONTEXT)),
        (DebugProcess(), {}, 5, ("process", 5, False)),
        (StateRun(), {}, 5, ("run", 5, CONTEXT)),
        (OneArgExecute(), {}, 5, ("execute", 5)),
        (ExecuteAgent(), {}, 5, {"echo": 5, "tenant": "acme"}),  # execute always gets it
        (InvokeWithConfig(), {}, 5, ("invoke", 5, None)),  # LangChain's config, not ours
        (build_report, {}, 5, "report of 5"),  # a factory-like name is just a name
        (create_summary, {}, NO_INPUT, "summary"),
        (new_callable, {}, 5, ("made", 5)),  # returns Callable: a factory
        (make_agent, {}, 5, 15),  # returns an execute agent: a factory
    ],
    ids=lambda v: getattr(v, "__name__", None) or type(v).__name__ if callable(v) else None,
)
def test_adapter_table(agent: Any, kwargs: dict[str, Any], value: Any, expected: Any) -> None:
    adapter = adapt(agent, **kwargs)
    assert adapter.call(value) == expected
    assert asyncio.run(adapter.acall(value)) == expected


def test_init_makes_a_factory_only_when_it_can_be_called_with_it() -> None:
    with pytest.raises(SpecError, match="not callable"):  # called as a factory: got a str
        adapt(create_summary, init={})
    assert adapt(build_report, init={}).call(2) == "report of 2"  # needs an argument


def test_context_param_that_does_not_exist_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match=r"context_param: 'defaulted_second' has no "
                       r"parameter 'settings'.*parameters: x, retries"):
        adapt(defaulted_second, name="defaulted_second", context_param="settings")
    with pytest.raises(SpecError, match="the parameter that takes the input"):
        adapt(defaulted_second, context_param="x")


def test_no_input_sentinel_pickles_to_itself() -> None:
    assert pickle.loads(pickle.dumps(NO_INPUT)) is NO_INPUT
    cloudpickle = pytest.importorskip("cloudpickle")
    assert cloudpickle.loads(cloudpickle.dumps(NO_INPUT)) is NO_INPUT
    assert type(NO_INPUT)() is NO_INPUT and repr(NO_INPUT) == "NO_INPUT"


def test_no_input_function_runs_on_a_dask_cluster(request: pytest.FixtureRequest) -> None:
    pytest.importorskip("distributed")
    import dask_agents

    from agentperf.execution.base import Task
    from agentperf.execution.dask_backend import DaskExecutor
    from agentperf.execution.settings import ExecutionSettings

    client = dask_agents.shared_cluster(request.config)
    agent = AgentRef("batch_agents:optional_input", search_paths=(str(TESTS_DIR),))
    settings = ExecutionSettings(mode="dask", scheduler=client.scheduler.address)
    with DaskExecutor(agent, settings) as executor:
        [result] = list(executor.run([Task(0, NO_INPUT)]))
    assert result.ok, result.error
    assert result.output == "called with None"  # NO_INPUT arrived as NO_INPUT
