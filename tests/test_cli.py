"""The command line as a whole: help, version, lazy imports, the console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEAVY = ("redis", "dask", "distributed", "memory_profiler", "psutil", "prometheus_client",
         "plotext", "langgraph")


def run(*code_or_args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, *code_or_args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=60)


def test_help_imports_no_heavy_dependency() -> None:
    probe = (
        "import sys, json\n"
        "sys.modules['click'] = None  # typer vendors click; a fresh install has none\n"
        "from typer.testing import CliRunner\n"
        "from agentperf.cli.app import app\n"
        "result = CliRunner().invoke(app, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))\n"
    )
    proc = run("-c", probe)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []


def test_help_lists_every_command_and_the_exit_codes() -> None:
    proc = run("-m", "agentperf", "--help")
    assert proc.returncode == 0
    for command in ("run-batch", "bench", "profile", "monitor", "cache"):
        assert command in proc.stdout
    assert "130" in proc.stdout and "max_error_rate" in proc.stdout


def test_version() -> None:
    from agentperf import __version__

    proc = run("-m", "agentperf", "--version")
    assert proc.returncode == 0
    assert proc.stdout.strip() == f"agentperf {__version__}"


def test_unknown_option_is_a_usage_error() -> None:
    proc = run("-m", "agentperf", "run-batch", "--no-such-option", "x.yaml")
    assert proc.returncode == 2


def test_library_helpers_are_exported_lazily() -> None:
    probe = (
        "import sys, agentperf\n"
        "assert 'agentperf.cache' not in sys.modules\n"
        "print(agentperf.cached.__module__, agentperf.profile_memory.__name__,\n"
        "      agentperf.create_executor.__name__, agentperf.load_workload.__name__)\n"
    )
    proc = run("-c", probe)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["agentperf.cache.decorator", "profile_memory",
                                   "create_executor", "load_workload"]
