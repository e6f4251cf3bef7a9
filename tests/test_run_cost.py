"""What a plain run-batch pays for at start-up: nothing it does not use.

A one-input run-batch with no cache and no report file must not import the cache's
config, decorator and tiers, any report renderer or the progress bar; asking for them
still loads them. Nor, with a sync agent given by dotted path, pydantic (Typer's
coercion), YAML, asyncio, importlib.metadata or hashlib: together about half of such a
run's start-up. Worker processes do not import the command line again, and what lives
until the process exits is frozen out of the garbage collector's view (and so out of
the interpreter's clean-up at exit). (The time itself is measured by
``benchmarks/executor.py --startup``.)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
UNUSED = (
    "agentperf.cache.config",
    "agentperf.cache.decorator",
    "agentperf.cache.tiered",
    "agentperf.report.html",
    "agentperf.report.junit",
    "agentperf.report.markdown",
    "rich.progress",
)


#: Imported by Typer's per-option coercion, a YAML spec, an async agent, the pricing
#: database's version and a digest: none of which a plain dotted-path run uses.
HEAVY = ("pydantic", "typer._adapters", "yaml", "asyncio", "importlib.metadata", "hashlib")
PLAIN_AGENT = "def echo(x):\n    return x\n\n\nasync def async_echo(x):\n    return x\n"


def loaded_after(tmp_path: Path, *args: str, modules: tuple[str, ...] = UNUSED) -> list[str]:
    probe = (
        "import sys, json\n"
        "from typer.testing import CliRunner\n"
        "from agentperf.cli.app import app\n"
        f"result = CliRunner().invoke(app, {list(args)!r})\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(json.dumps([m for m in {modules!r} if m in sys.modules]))\n"
    )
    proc = run_probe(probe, tmp_path, [REPO, TESTS, tmp_path], timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run_probe(probe: str, cwd: Path, path: list[Path],
              timeout: float) -> subprocess.CompletedProcess[str]:
    """``python -c probe`` in a fresh interpreter with ``path`` importable; it must exit 0."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in path)}
    proc = subprocess.run([sys.executable, "-c", probe], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    return proc


def test_a_plain_run_imports_no_cache_renderer_or_progress_bar(tmp_path: Path) -> None:
    args = ["run-batch", "agents_for_tests:noop", "-i", "1", "-m", "sequential", "-q"]
    assert loaded_after(tmp_path, *args) == []


def test_a_plain_one_input_run_imports_no_pydantic_yaml_or_asyncio(tmp_path: Path) -> None:
    (tmp_path / "plain_agent.py").write_text(PLAIN_AGENT)
    for mode in ("sequential", "threads"):
        args = ["run-batch", "plain_agent:echo", "-i", "1", "-m", mode, "-q", "-w", "2"]
        assert loaded_after(tmp_path, *args, modules=HEAVY) == [], mode


def test_a_quiet_run_to_a_pipe_prints_plain_lines_without_rich(tmp_path: Path) -> None:
    """``-q`` to a log writes the summary as plain text (about 25 ms of Rich a run saved);
    the full report still uses Rich."""
    args = ["run-batch", "agents_for_tests:noop", "-i", "1", "-m", "sequential"]
    assert loaded_after(tmp_path, *args, "-q", modules=("rich", "rich.console")) == []
    assert loaded_after(tmp_path, *args, modules=("rich.console",)) == ["rich.console"]


def test_what_a_run_asks_for_still_loads_those_modules(tmp_path: Path) -> None:
    """The must-fire side: a YAML spec, an async agent and a results file load theirs."""
    (tmp_path / "plain_agent.py").write_text(PLAIN_AGENT)
    spec = tmp_path / "spec.yaml"
    spec.write_text("agent: plain_agent:async_echo\ninputs: [1]\nexecution: {mode: asyncio}\n")
    out = tmp_path / "rows.jsonl"
    loaded = loaded_after(tmp_path, "run-batch", str(spec), "-q", "-o", str(out), modules=HEAVY)
    assert {"yaml", "asyncio", "hashlib"} <= set(loaded), loaded
    assert "pydantic" not in loaded and "typer._adapters" not in loaded
    assert json.loads(out.read_text())["input_digest"]


def test_asking_for_reports_still_loads_their_renderers(tmp_path: Path) -> None:
    html, junit = tmp_path / "r.html", tmp_path / "r.xml"
    args = [
        "run-batch",
        "agents_for_tests:noop",
        "-i",
        "1",
        "-m",
        "sequential",
        "-q",
        "--report-html",
        str(html),
        "--junit-xml",
        str(junit),
    ]
    loaded = loaded_after(tmp_path, *args)
    assert {"agentperf.report.html", "agentperf.report.junit"} <= set(loaded), loaded
    assert "<html" in html.read_text() and "<testsuite" in junit.read_text()


def test_the_cache_package_resolves_its_names_on_first_use(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "import agentperf.cache.config\n"
        "assert 'agentperf.cache.decorator' not in sys.modules\n"
        "from agentperf.cache import cached, CacheStats, make_key\n"
        "import agentperf.cache as cache\n"
        "print(cached.__module__, CacheStats.__module__, make_key.__module__)\n"
        "try:\n"
        "    cache.nothing_here\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    proc = run_probe(probe, tmp_path, [REPO], timeout=60)
    first, second = proc.stdout.strip().splitlines()
    assert first.split() == [
        "agentperf.cache.decorator",
        "agentperf.cache.stats",
        "agentperf.cache.keys",
    ]
    assert "no attribute 'nothing_here'" in second


def main_loaded(tmp_path: Path, *argv: str) -> list[str]:
    """Command modules loaded by ``agentperf ARGV`` through the console script's ``main``."""
    modules = ("agentperf.cli.run_batch", "agentperf.cli.bench", "agentperf.cli.profile",
               "agentperf.cli.monitor", "agentperf.cli.cache")
    probe = (
        "import contextlib, io, json, sys\n"
        f"sys.argv = ['agentperf', *{list(argv)!r}]\n"
        "from agentperf.cli.app import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main()\n"
        f"print(json.dumps([m for m in {modules!r} if m in sys.modules]))\n"
    )
    proc = run_probe(probe, tmp_path, [REPO, TESTS], timeout=120)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_command_run_builds_only_that_command(tmp_path: Path) -> None:
    run = ["run-batch", "agents_for_tests:noop", "-i", "1", "-m", "sequential", "-q"]
    assert main_loaded(tmp_path, *run) == ["agentperf.cli.run_batch"]
    # Help and the command list need every command.
    assert len(main_loaded(tmp_path, "run-batch", "--help")) == 5
    assert len(main_loaded(tmp_path, "--help")) == 5


def test_processes_mode_starts_its_worker_server_while_the_run_prepares(tmp_path: Path) -> None:
    """The forkserver is up when ``prepare_batch`` returns, before the executor is built,
    so its start-up overlaps the run's own imports; other modes start none."""
    probe = (
        "from multiprocessing import forkserver\n"
        "from agentperf.pipeline.batch_setup import prepare_batch\n"
        "for mode in ('sequential', 'processes'):\n"
        "    prepare_batch('agents_for_tests:noop', inputs=['1'], execution={'mode': mode})\n"
        "    print(mode, forkserver._forkserver._forkserver_pid is not None)\n"
    )
    proc = run_probe(probe, tmp_path, [REPO, TESTS], timeout=60)
    assert proc.stdout.split() == ["sequential", "False", "processes", "True"]


FREEZE_AGENT = "import gc\n\n\ndef frozen(x):\n    return gc.get_freeze_count()\n"


def first_row_through_main(tmp_path: Path, agent: str, *options: str) -> dict[str, Any]:
    """The results file's first row of ``agentperf run-batch AGENT -i 1 OPTIONS`` run as
    the program does (``main``, in a fresh interpreter), ``tmp_path`` importable."""
    out = tmp_path / "rows.jsonl"
    argv = ["agentperf", "run-batch", agent, "-i", "1", "-q", "-o", str(out), *options]
    probe = f"import sys\nsys.argv = {argv!r}\nfrom agentperf.cli.app import main\nmain()\n"
    run_probe(probe, tmp_path, [REPO, tmp_path], timeout=60)
    return dict(json.loads(out.read_text().splitlines()[0]))


def test_the_command_freezes_its_start_up_before_the_first_task_when_it_is_the_process(
        tmp_path: Path) -> None:
    """Through ``main`` (the console script, ``python -m agentperf``) the agent's first call
    already finds agentperf's start-up frozen: the freeze came before the clock started."""
    (tmp_path / "freeze_agent.py").write_text(FREEZE_AGENT)
    row = first_row_through_main(tmp_path, "freeze_agent:frozen", "-m", "sequential")
    assert row["output"] > 5000  # agentperf's modules, the spec and the executor


def test_an_in_process_caller_keeps_its_collector_as_it_was(tmp_path: Path) -> None:
    """Typer's test runner (or a notebook) is not a process that ends with the run: nothing
    of its is frozen, during the run or after."""
    (tmp_path / "freeze_agent_inproc.py").write_text(FREEZE_AGENT)
    out = tmp_path / "rows.jsonl"
    probe = (
        "import gc\n"
        "from typer.testing import CliRunner\n"
        "from agentperf.cli.app import app\n"
        f"args = ['run-batch', 'freeze_agent_inproc:frozen', '-i', '1', '-m', 'sequential',"
        f" '-q', '-o', {str(out)!r}]\n"
        "result = CliRunner().invoke(app, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "print(gc.get_freeze_count())\n"
    )
    proc = run_probe(probe, tmp_path, [REPO, tmp_path], timeout=60)
    assert json.loads(out.read_text().splitlines()[0])["output"] == 0
    assert proc.stdout.split()[-1] == "0"


MODULES_AGENT = (
    "import sys\n\n\n"
    "def cli_modules(x):\n"
    "    return sorted(m for m in ('typer', 'agentperf.cli.application', 'rich')"
    " if m in sys.modules)\n"
)
#: What pip writes for ``[project.scripts] agentperf = "agentperf.cli.app:main"``.
CONSOLE_SCRIPT = (
    "import sys\n"
    "from agentperf.cli.app import main\n"
    "if __name__ == '__main__':\n"
    "    sys.exit(main())\n"
)


def test_worker_processes_do_not_import_the_command_line_again(tmp_path: Path) -> None:
    """Started from the console script, every worker re-runs it as ``__mp_main__``: it must
    not bring Typer and the app with it (the parent, which runs the command, has them)."""
    (tmp_path / "modules_agent.py").write_text(MODULES_AGENT)
    script = tmp_path / "agentperf_script.py"
    script.write_text(CONSOLE_SCRIPT)
    out = tmp_path / "rows.jsonl"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(tmp_path)])}
    proc = subprocess.run(
        [sys.executable, str(script), "run-batch", "modules_agent:cli_modules", "-i", "1",
         "-m", "processes", "-w", "1", "-q", "-o", str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    row = json.loads(out.read_text().splitlines()[0])
    assert row["worker"].startswith("pid:")
    assert row["output"] == []


def test_processes_workers_start_with_the_forkserver_s_imports_frozen(tmp_path: Path) -> None:
    """The forkserver freezes what it preloaded before it forks a worker, so a worker's
    collections (inside its agent's calls) never walk agentperf's modules."""
    (tmp_path / "freeze_agent_workers.py").write_text(FREEZE_AGENT)
    row = first_row_through_main(tmp_path, "freeze_agent_workers:frozen", "-m", "processes",
                                 "-w", "1")
    assert row["worker"].startswith("pid:")
    assert row["output"] > 5000
