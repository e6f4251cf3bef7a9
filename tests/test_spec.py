"""The workload spec: loading, lazy inputs, and one clear line for every kind of bad input."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import textwrap
from pathlib import Path

import pytest

from agentperf.errors import ExitCode, SpecError
from agentperf.workload import inputs as inputs_module
from agentperf.workload.adapters import NO_INPUT
from agentperf.workload.inputs import InputError, InputSource, from_file
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
        ("agent: MOD:EchoAgent\nexecution:\n  workers: ~\n", r"spec\.yaml:3: execution\.workers: must not be null"),
        ("agent: MOD:EchoAgent\nexecution:\n  timeout_s: ~\n", r"spec\.yaml:3: execution\.timeout_s: must not be null"),
        ("agent: MOD:EchoAgent\nexecution:\n  timeout_s: 0\n", r"spec\.yaml:3: execution\.timeout_s: must be more than 0"),
        ("agent: MOD:EchoAgent\nrepeat: -1\n", r"spec\.yaml:2: repeat: must be at least 1"),
        ("agent: MOD:EchoAgent\ninputs: {generator: MOD:numbers, repeat: 0}\n", r"spec\.yaml:2: inputs\.repeat: must be at least 1"),
        ("agent: MOD:EchoAgent\nversion: ~\n", r"spec\.yaml:2: version: must not be null"),
        ("agent: MOD:EchoAgent\nmax_error_rate: -0.1\n", r"max_error_rate: must be a fraction"),
        ("agent: MOD:EchoAgent\nexecution:\n  retries: 2\n  backoff: jitter\n", r"spec\.yaml:4: execution\.backoff: unknown backoff 'jitter' \(expected one of doubling, exponential\)"),
        ("agent: MOD:EchoAgent\nexecution:\n  retry_on: RateLimitError\n", r"spec\.yaml:3: execution\.retry_on: expected a list, got str"),
        ("agent: MOD:EchoAgent\nexecution:\n  retry_on: [RateLimitError, 429]\n", r"spec\.yaml:3: execution\.retry_on: 429 is not an exception class name"),
        ("agent: MOD:EchoAgent\nexecution:\n  retry_on: ['rate limit']\n", r"spec\.yaml:3: execution\.retry_on: 'rate limit' is not an exception class name"),
        ("agent: MOD:EchoAgent\nexecution:\n  max_backoff_s: 0\n", r"spec\.yaml:3: execution\.max_backoff_s: must be a positive number of seconds"),
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


def test_empty_sections_mean_the_default(workdir: Path) -> None:
    spec = load_workload(str(write_spec(workdir, """
        agent: MOD:EchoAgent
        inputs:
        context:
        execution: ~
    """)))
    assert list(spec.inputs) == [NO_INPUT] and spec.execution.workers is None


def test_module_calling_sys_exit_on_import_is_a_spec_error(workdir: Path) -> None:
    (workdir / "exits_now.py").write_text("import sys\nsys.exit(5)\n")
    with pytest.raises(SpecError, match=r"spec\.yaml:1: agent: .*'exits_now' failed: the "
                       r"module called sys\.exit\(5\)"):
        load_workload(str(write_spec(workdir, "agent: exits_now:agent\n")))
    with pytest.raises(SpecError, match=r"importing 'exits_now' failed: .*sys\.exit\(5\)"):
        load_workload("exits_now.agent", cwd=workdir)


# --- input files: one streaming pass before the first task ------------------------------

def source(path: Path) -> InputSource:
    return from_file(path)


def test_late_corrupt_jsonl_line_is_found_before_any_input_is_used(tmp_path: Path) -> None:
    lines = [json.dumps({"n": i}) for i in range(302)]
    lines[296] = '{"n": 296,'
    path = tmp_path / "in.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=r"in\.jsonl:297:11: invalid JSON: Expecting property"):
        source(path).validate()
    path.write_text("\n".join(lines[:296]) + "\n\n" + '{"n": 297}\n')
    checked = source(path).validate()
    assert checked.size == 297 and checked.count() == 297  # blank lines are no input


def test_non_utf8_byte_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'"a"\n"b\xff"\n')
    with pytest.raises(InputError, match=r"in\.jsonl:2:3: not UTF-8"):
        source(path).validate()


@pytest.mark.parametrize("chunk", [1, 3, 64, 1 << 16])
def test_json_list_is_streamed_item_by_item(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            chunk: int) -> None:
    monkeypatch.setattr(inputs_module, "JSON_CHUNK", chunk)
    items = [1, -2.5e-07, 12345678901234567890, True, None, "tr\u00e9s \\\"q\"", "\U0001f600",
             {"a": [1, {"b": "c"}], "d": {}}, [], ""]
    path = tmp_path / "in.json"
    path.write_text(json.dumps(items, indent=2, ensure_ascii=False), encoding="utf-8")
    assert list(source(path)) == items
    assert source(path).validate().size == len(items)
    # A corrupt second item does not stop the first from being read: nothing reads ahead
    # of the item it yields, so the whole list is never in memory.
    path.write_text('[{"q": 1},\n {"q": 2,, "x": 3}]')
    stream = iter(source(path))
    assert next(stream) == {"q": 1}
    with pytest.raises(InputError, match=r"in\.json:2:10: invalid JSON: Expecting property"):
        next(stream)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"a": 1}', r"1:1: a JSON input file must hold a list"),
        ("", r"1:1: a JSON input file must hold a list"),
        ("[1, 2", r"1:6: invalid JSON: the list is not closed"),
        ("[1 2]", r"1:4: invalid JSON: Expecting ',' delimiter"),
        ("[1,]", r"1:4: invalid JSON: Expecting value"),
        ("[1]\n[2]", r"2:1: invalid JSON: Extra data"),
        ('[\n  "ok",\n  tru\n]', r"3:3: invalid JSON: Expecting value"),
    ],
)
def test_json_list_errors_name_line_and_column(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "in.json"
    path.write_text(text)
    with pytest.raises(InputError, match=re.escape(str(path)) + ":" + where):
        source(path).validate()


def test_csv_counts_and_rows_match_dictreader(tmp_path: Path) -> None:
    text = "q,lang\nhello,en\n\n\nhallo,de\n\n"
    path = tmp_path / "rows.csv"
    path.write_text(text)
    expected = list(csv.DictReader(io.StringIO(text)))
    assert list(source(path)) == expected and len(expected) == 2
    assert source(path).count() == 2
    path.write_text("q,lang\nhello,en\nhallo,de,extra\n")
    with pytest.raises(InputError, match=r"rows\.csv:3: 3 fields, the header has 2"):
        source(path).validate()
