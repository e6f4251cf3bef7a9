"""The README's Quick start holds on a fresh machine, and nothing the tests need is left out.

CI runs on a machine where earlier installs may linger, so these checks look at what a
new machine would get: only what the README's commands install.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
#: Binaries that the test extra installs into the virtualenv, not the system.
VENV_BINARIES = {"python", "python3", "pip", "agentperf", "pytest", "ruff"}
#: Essential packages of every Debian system; the README's commands run in bash themselves.
ESSENTIAL_BINARIES = {"bash", "sh"}
#: What a copy of the repository leaves out: history, build output, local environments.
NOT_COPIED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    ".pytest_cache",
    ".ruff_cache",
)


def quick_start_commands() -> tuple[str, str]:
    quick_start = (REPO / "README.md").read_text("utf-8").split("## Quick start", 1)[1]
    blocks = re.findall(r"```bash\n(.*?)```", quick_start, re.S)
    return blocks[0].strip(), blocks[1].strip()


def test_a_skip_for_a_missing_module_fails_the_run(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["missing_module_guard"]')
    pytester.makepyfile(
        test_module_level='import pytest\npytest.importorskip("no_such_module_agentperf")\n'
        "def test_never(): pass\n",
        test_in_a_test="import pytest\n"
        "def test_needs_a_module():\n"
        '    pytest.importorskip("no_such_module_agentperf")\n'
        "def test_skipped_for_another_reason():\n"
        '    pytest.skip("not on this platform")\n',
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--continue-on-collection-errors")
    result.assert_outcomes(failed=1, errors=1, skipped=1)
    result.stdout.fnmatch_lines(["*skipped for a missing module*no_such_module_agentperf*"])


def system_binaries_called(folder: Path) -> set[str]:
    """Names passed to ``shutil.which`` or run as the first word of a subprocess command."""
    found: set[str] = set()
    for path in folder.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            first = node.args[0]
            if name == "which" and isinstance(first, ast.Constant):
                found.add(str(first.value))
            elif (
                name in {"run", "Popen", "check_call", "check_output", "call"}
                and isinstance(first, ast.List)
                and first.elts
                and isinstance(first.elts[0], ast.Constant)
            ):
                found.add(Path(str(first.elts[0].value)).name)
    return found - VENV_BINARIES - ESSENTIAL_BINARIES


def test_the_test_command_installs_every_system_binary_the_suite_calls() -> None:
    _, install_and_test = quick_start_commands()
    installed_when_missing = set(re.findall(r"command -v (\S+) >/dev/null \|\|", install_and_test))
    called = system_binaries_called(TESTS)
    assert "redis-server" in called  # the scan itself still sees the conftest's server
    assert called <= installed_when_missing, (
        f"the suite calls {sorted(called - installed_when_missing)}, which the README's test "
        "command does not install when missing (command -v NAME || apt-get install ...)"
    )
    for binary in installed_when_missing:
        assert re.search(rf"apt-get install [^)]*\b{re.escape(binary)}\b", install_and_test)


def test_the_scan_sees_binaries_in_both_call_shapes(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text(
        "import shutil, subprocess, sys\n"
        "shutil.which('chromium')\n"
        "subprocess.run(['/usr/bin/tmux', 'new'])\n"
        "subprocess.Popen([sys.executable, '-c', 'pass'])\n"
        "subprocess.run(['agentperf', '--help'])\n"
    )
    assert system_binaries_called(tmp_path) == {"chromium", "tmux"}


def _pip_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return os.environ.get("PIP_CACHE_DIR") or str(Path(base) / "pip")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_first_quick_start_command_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """A clean copy, a new virtualenv, the README's first command verbatim."""
    copy = tmp_path / "agentperf"
    shutil.copytree(REPO, copy, ignore=NOT_COPIED)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME"}}
    env.update(
        VIRTUAL_ENV=str(venv),
        PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        PIP_CACHE_DIR=_pip_cache_dir(),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    install_and_run, _ = quick_start_commands()
    proc = subprocess.run(
        ["bash", "-c", install_and_run],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^PASSED \(exit 0\): 60 of 60 tasks succeeded", proc.stdout, re.M), (
        proc.stdout[-3000:]
    )
    assert (venv / "bin" / "agentperf").exists()
