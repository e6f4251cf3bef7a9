"""The agent's code fingerprint in cache keys: what it covers, where it is computed, errors."""

from __future__ import annotations

import dataclasses
import importlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentperf.cache.batch import BatchCache
from agentperf.cache.config import CacheConfig, cache_for_workload
from agentperf.cli.app import app
from agentperf.errors import SpecError
from agentperf.report.batch_console import cache_summary
from agentperf.workload.adapters import AgentRef
from agentperf.workload.fingerprint import agent_fingerprint
from agentperf.workload.spec import load_workload

runner = CliRunner()


@pytest.fixture
def modules(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two fresh modules in ``tmp_path``: ``defs`` defines an agent, ``app`` re-exports it
    and builds an instance and a factory product from it (names unique per test)."""
    tag = uuid.uuid4().hex[:8]
    defs, app_mod = f"fp_defs_{tag}", f"fp_app_{tag}"
    (tmp_path / f"{defs}.py").write_text(textwrap.dedent("""\
        class Agent:
            def execute(self, input_data, context):
                return input_data
        """))
    (tmp_path / f"{app_mod}.py").write_text(textwrap.dedent(f"""\
        from {defs} import Agent

        instance = Agent()

        def make_agent():
            return Agent()
        """))
    sys.path.insert(0, str(tmp_path))
    try:
        yield defs, app_mod
    finally:
        sys.path.remove(str(tmp_path))
        for name in (defs, app_mod):
            sys.modules.pop(name, None)


def ref(target: str, tmp_path: Path) -> AgentRef:
    return AgentRef(target=target, search_paths=(str(tmp_path),))


def test_the_defining_module_and_the_named_module_are_both_covered(
        tmp_path: Path, modules: tuple[str, str]) -> None:
    defs, app_mod = modules
    for attr in ("Agent", "instance"):  # a class's module, an instance's class's module
        code = agent_fingerprint(ref(f"{app_mod}:{attr}", tmp_path))
        assert set(code.sources) == {f"module {app_mod}", f"module {defs}"}, attr
    factory = agent_fingerprint(ref(f"{app_mod}:make_agent", tmp_path))
    assert factory.sources == (f"module {app_mod}",)  # the factory is not called to find out
    direct = agent_fingerprint(ref(f"{defs}.Agent", tmp_path))  # dotted path without a colon
    assert direct.sources == (f"module {defs}",)

    before = {attr: agent_fingerprint(ref(f"{app_mod}:{attr}", tmp_path)).digest
              for attr in ("Agent", "instance", "make_agent")}
    defining = tmp_path / f"{defs}.py"
    defining.write_text(defining.read_text().replace("return input_data", "return None"))
    after = {attr: agent_fingerprint(ref(f"{app_mod}:{attr}", tmp_path)).digest
             for attr in before}
    assert before["Agent"] != after["Agent"] and before["instance"] != after["instance"]
    assert before["make_agent"] == after["make_agent"]
    building = tmp_path / f"{app_mod}.py"
    building.write_text(building.read_text() + "\nTIMEOUT_S = 5\n")
    assert agent_fingerprint(ref(f"{app_mod}:make_agent", tmp_path)).digest != after["make_agent"]


def test_spec_fingerprint_entries_add_files_directories_modules_and_packages(
        tmp_path: Path) -> None:
    (tmp_path / "agent.py").write_text("def run(x):\n    return x\n")
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "a.txt").write_text("A")
    (tmp_path / "notes.md").write_text("N")
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text("agent: agent:run\ncache: {}\n"
                         "fingerprint: [prompts, notes.md, json, agentperf.cache.keys]\n")
    try:
        spec = load_workload(str(spec_path))
        config = cache_for_workload(spec)
    finally:
        sys.modules.pop("agent", None)
    assert config is not None and config.fingerprint is not None
    sources = set(config.fingerprint_sources)
    assert {"module agent", "file prompts/a.txt", "file notes.md",
            "module agentperf.cache.keys", "package json/__init__.py"} <= sources
    assert any(s.startswith("package json/") and s != "package json/__init__.py"
               for s in sources)  # a package means all of its modules


@pytest.mark.parametrize(("entries", "message"), [
    ("[missing.txt]", "fingerprint[0]: 'missing.txt' is neither a file or directory"),
    ("[json, no_such_package_xyz]", "fingerprint[1]: 'no_such_package_xyz' is neither"),
    ("[3]", "fingerprint[0]: expected a file path or a package name"),
    ("prompts.txt", "fingerprint: expected a list"),
])
def test_a_missing_fingerprint_entry_is_a_spec_error_with_its_line(
        tmp_path: Path, entries: str, message: str) -> None:
    (tmp_path / "spec.yaml").write_text(
        f"agent: json:dumps\ninputs: [1]\nfingerprint: {entries}\n")
    result = runner.invoke(app, ["run-batch", str(tmp_path / "spec.yaml"), "-q"])
    assert result.exit_code == 2
    assert f"spec.yaml:3: {message}" in result.output
    assert "Traceback" not in result.output


def test_the_fingerprint_is_checked_even_when_the_cache_is_off(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("agent: json:dumps\nfingerprint: [gone.py]\n")
    with pytest.raises(SpecError, match="fingerprint"):
        load_workload(str(tmp_path / "spec.yaml"))


def test_workers_build_the_clients_keys_from_the_clients_fingerprint(tmp_path: Path) -> None:
    """Dask workers open their own caches from the config the client sends: the
    fingerprint computed once in the client travels with it, so keys agree."""
    from agentperf.execution.dask_backend import worker_cache_config

    agent = AgentRef(target="json:dumps", version="3")
    raw = {"dir": str(tmp_path), "redis_url": "redis://127.0.0.1:1/0"}
    client = cache_for_workload(_spec(agent, raw))
    assert client is not None and client.fingerprint == agent_fingerprint(agent).digest
    worker = worker_cache_config(client)
    assert worker.fingerprint == client.fingerprint and "disk" not in worker.tiers
    keys = [BatchCache.open(c, agent).keys.key({"q": 1}) for c in (client, worker)]
    other = dataclasses.replace(client, fingerprint="0" * 64)
    assert keys[0] == keys[1] != BatchCache.open(other, agent).keys.key({"q": 1})


def test_a_library_config_without_a_fingerprint_gets_the_agent_modules(tmp_path: Path) -> None:
    agent = AgentRef(target="json:dumps")
    config = CacheConfig.from_mapping({"dir": str(tmp_path)}, error=_error)
    with BatchCache.open(config, agent) as cache:
        stats = cache.stats()
    code = agent_fingerprint(agent)
    assert cache.keys.fingerprint == code.digest
    assert stats.fingerprint == code.short and stats.fingerprint_sources == ["module json"]


def test_the_console_cache_summary_shows_the_fingerprint() -> None:
    doc = {"cache": {"calls_avoided": 1, "lookups": 2, "hit_rate": 0.5,
                     "single_flight_waits": 0, "time_saved_s": 0.1, "tiers": [],
                     "fingerprint": "0123456789ab", "fingerprint_sources": ["module agent"]}}
    table = cache_summary(doc)
    assert table is not None
    cells = [str(cell) for column in table.columns for cell in column._cells]
    assert "code fingerprint" in cells and "0123456789ab (module agent)" in cells


def _error(message: str, key: str) -> SpecError:
    return SpecError(message, key=key)


def _spec(agent: AgentRef, raw: dict) -> object:
    from agentperf.workload.inputs import InputSource
    from agentperf.workload.spec import WorkloadSpec

    return WorkloadSpec(name="t", agent=agent, inputs=InputSource(kind="none"), cache=raw)


def test_reimporting_an_edited_module_changes_a_cached_functions_keys(tmp_path: Path) -> None:
    name = f"fp_cached_{uuid.uuid4().hex[:8]}"
    source = tmp_path / f"{name}.py"
    body = ("from agentperf.cache import cached\n\n"
            "@cached(tiers=['memory', 'disk'], dir=%r)\n"
            "def answer(x):\n    return %r\n")
    source.write_text(body % (str(tmp_path / "cache"), "old"))
    sys.path.insert(0, str(tmp_path))
    sys.dont_write_bytecode, saved = True, sys.dont_write_bytecode
    try:
        module = importlib.import_module(name)
        assert module.answer(1) == "old"
        sys.modules.pop(name)
        assert importlib.import_module(name).answer(1) == "old"  # same source: a disk hit
        assert sys.modules[name].answer.cache_stats().hits == 1
        sys.modules.pop(name)
        source.write_text(body % (str(tmp_path / "cache"), "new"))
        edited = importlib.import_module(name)
        assert edited.answer(1) == "new"
        assert edited.answer.cache_stats().hits == 0
    finally:
        sys.dont_write_bytecode = saved
        sys.path.remove(str(tmp_path))
        sys.modules.pop(name, None)


def test_cache_clear_without_a_cache_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("agent: json:dumps\ninputs: [1]\n")
    result = runner.invoke(app, ["run-batch", str(tmp_path / "spec.yaml"), "--cache-clear"])
    assert result.exit_code == 2 and "--cache-clear: this run has no cache" in result.output
    assert "Traceback" not in result.output
