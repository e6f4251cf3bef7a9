"""The workload spec: loading, lazy inputs, and one clear line for every kind of bad input."""

from __future__ import annotations

import re
import sys
import textwrap
from pathlib import Path

import pytest

from agentperf.errors import ExitCode, SpecError
from agentperf.workload.adapters import NO_INPUT
from agentperf.workload.spec import load_workload

AGENT_MODULE = textwrap.dedent(
    """
    class EchoAgent:
        def __init__(self, prefix: str = ""):
            self.prefix = prefix

        def execute(self, input_data, context):
            return f"{self.prefix}{input_data}:{context.get('model')}"

    def numbers(count=3):
        yield from range(count)
    """
)


@pytest.fixture()
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    module_name = f"spec_agents_{tmp_path.name.replace('-', '_')}"
    (tmp_path / f"{module_name}.py").write_text(AGENT_MODULE)
    (tmp_path / "module_name").write_text(module_name)
    yield tmp_path
    sys.modules.pop(module_name, None)


def write_spec(workdir: Path, body: str) -> Path:
    module = (workdir / "module_name").read_text()
    path = workdir / "spec.yaml"
    path.write_text(textwrap.dedent(body).replace("MOD", module))
    return path


def test_spec_next_to_its_agent_loads_without_installing(workdir: Path) -> None:
    path = write_spec(workdir, """
        name: demo
        agent: MOD:EchoAgent
        init: {prefix: ">"}
        inputs: [a, b]
        context: {model: m1}
        execution: {mode: threads, workers: 2, max_in_flight: 4, timeout_s: 1.5, retries: 2}
    """)
    spec = load_workload(str(path))
    assert spec.name == "demo"
    assert list(spec.inputs) == ["a", "b"]
    assert spec.execution.mode == "threads"
    assert spec.execution.timeout_s == 1.5
    adapter = spec.build_agent()
    assert adapter.protocol == "execute"
    assert adapter.call("a") == ">a:m1"


def test_input_file_resolves_relative_to_the_spec_and_reads_lazily(workdir: Path) -> None:
    (workdir / "data").mkdir()
    (workdir / "data" / "in.jsonl").write_text('{"q": 1}\n\n{"q": 2}\nnot json\n')
    path = write_spec(workdir, """
        agent: MOD:EchoAgent
        inputs: {file: data/in.jsonl}
    """)
    spec = load_workload(str(path))
    stream = iter(spec.inputs)
    assert next(stream) == {"q": 1}
    assert next(stream) == {"q": 2}
    with pytest.raises(SpecError, match=r"in\.jsonl:4:1: invalid JSON"):
        next(stream)


def test_csv_and_generator_inputs(workdir: Path) -> None:
    (workdir / "rows.csv").write_text("q,lang\nhello,en\nhallo,de\n")
    spec = load_workload(str(write_spec(workdir, "agent: MOD:EchoAgent\ninputs: rows.csv\n")))
    assert list(spec.inputs) == [{"q": "hello", "lang": "en"}, {"q": "hallo", "lang": "de"}]
    assert spec.inputs.count() == 2
    spec = load_workload(str(write_spec(workdir, """
        agent: MOD:EchoAgent
        inputs: {generator: MOD:numbers, args: {count: 4}, repeat: 2}
    """)))
    assert list(spec.inputs) == [0, 1, 2, 3, 0, 1, 2, 3]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("agent: MOD:EchoAgent\nexecuton: {}\n", r"spec\.yaml:2: executon: unknown key \(did you mean 'execution'\?\)"),
        ("agent: MOD:EchoAgent\nexecution: {workers: two}\n", r"spec\.yaml:2: execution\.workers: expected an integer, got str"),
        ("agent: MOD:EchoAgent\nexecution: {mode: fast}\n", r"execution\.mode: unknown mode 'fast'"),
        ("agent: MOD:EchoAgnt\n", r"spec\.yaml:1: agent: '[a-z_0-9]+:EchoAgnt': no attribute 'EchoAgnt' \(did you mean 'EchoAgent'\?\)"),
        ("agent: nosuchpkg.mod:Agent\n", r"spec\.yaml:1: agent: cannot import module 'nosuchpkg\.mod'"),
        ("agent: MOD:EchoAgent\ninputs: {file: missing.jsonl}\n", r"spec\.yaml:2: inputs\.file: input file not found"),
        ("agent: MOD:EchoAgent\ninputs: [a, b\n", r"spec\.yaml:3:1: invalid YAML"),
        ("name: x\n", r"agent: missing required key 'agent'"),
        ("- just\n- a list\n", r"a spec must be a mapping"),
        ("agent: MOD:EchoAgent\nmax_error_rate: 2\n", r"max_error_rate: must be a fraction"),
        ("agent: MOD:EchoAgent\nexecution: {retries: true}\n", r"execution\.retries: expected an integer, got a boolean"),
    ],
)
def test_bad_specs_fail_with_one_line_naming_file_key_and_line(workdir: Path, body: str,
                                                                expected: str) -> None:
    path = write_spec(workdir, body)
    with pytest.raises(SpecError) as info:
        load_workload(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert info.value.exit_code == ExitCode.USAGE

    assert re.search(expected, message), message


def test_missing_spec_file() -> None:
    with pytest.raises(SpecError, match=r"spec file not found: nowhere\.yaml"):
        load_workload("nowhere.yaml")


def test_bare_dotted_path_uses_cli_inputs_and_current_directory(workdir: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    module = (workdir / "module_name").read_text()
    monkeypatch.chdir(workdir)
    spec = load_workload(f"{module}.EchoAgent", inputs=['{"x": 1}', "plain"], cwd=workdir)
    assert list(spec.inputs) == [{"x": 1}, "plain"]
    spec = load_workload(f"{module}:EchoAgent", cwd=workdir)
    assert list(spec.inputs) == [NO_INPUT]
    with pytest.raises(SpecError, match="no attribute 'Nope'"):
        load_workload(f"{module}:Nope", cwd=workdir)


def test_bad_init_arguments_are_a_spec_error(workdir: Path) -> None:
    spec = load_workload(str(write_spec(workdir, "agent: MOD:EchoAgent\ninit: {colour: red}\n")))
    with pytest.raises(SpecError, match=r"init: cannot construct EchoAgent"):
        spec.build_agent()
