"""One CLI: one flag vocabulary, one error line, readable help (issue 18 items 1-3).

The walker reads every command's options from the Click tree Typer builds, so a new
option that reuses a short flag for something else fails here at merge time.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.main import get_command
from typer.testing import CliRunner

from agentperf.cli.app import app
from agentperf.cli.common import SHORT_FLAGS

REPO = Path(__file__).resolve().parents[1]
AGENT = "sample_workloads.leaky_agent:BoundedAgent"
runner = CliRunner()


def walk(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """(command path, command) for every leaf command under ``command``."""
    children = getattr(command, "commands", None)
    if not children:
        yield " ".join(path), command
        return
    for name, child in children.items():
        yield from walk(child, (*path, name))


def short_flag_meanings(root: Any) -> dict[str, dict[str, set[str]]]:
    """short flag -> long option it abbreviates -> the commands where it does."""
    meanings: dict[str, dict[str, set[str]]] = {}
    for path, command in walk(root):
        for param in command.params:
            opts = list(getattr(param, "opts", ()))
            shorts = [o for o in opts if re.fullmatch(r"-[A-Za-z]", o)]
            longs = [o for o in opts if o.startswith("--")]
            for short in shorts:
                meaning = meanings.setdefault(short, {})
                meaning.setdefault(longs[0] if longs else short, set()).add(path)
    return meanings


def conflicts(root: Any) -> list[str]:
    """Every short flag that means two things, or is not in the written vocabulary."""
    found = []
    for short, longs in short_flag_meanings(root).items():
        allowed = set(SHORT_FLAGS.get(short, ()))
        if not allowed:
            found.append(f"{short} is not in SHORT_FLAGS ({sorted(longs)})")
        elif set(longs) - allowed:
            found.append(f"{short} means {sorted(longs)} (allowed: {sorted(allowed)})")
    return found


def test_no_short_flag_has_two_meanings_across_commands() -> None:
    root = get_command(app)
    assert conflicts(root) == []
    # And the vocabulary is used where it applies: an option that has the short flag in
    # one command has it in every command.
    for short, longs in short_flag_meanings(root).items():
        for long, paths in longs.items():
            for path, command in walk(root):
                for param in command.params:
                    if long in getattr(param, "opts", ()):
                        assert short in param.opts, f"{path} {long} lacks {short}"
                        assert path in paths


def test_the_walker_catches_a_short_flag_with_two_meanings() -> None:
    """The walker would fail if a command used -i for an interval again (issue 18)."""
    bad = typer.Typer()

    @bad.command("soak")
    def soak(interval: float = typer.Option(1.0, "--interval", "-i")) -> None: ...

    @bad.command("run")
    def run(input_: str = typer.Option("", "--input", "-i")) -> None: ...

    found = conflicts(get_command(bad))
    assert len(found) == 1 and "-i means" in found[0] and "--interval" in found[0]


def test_monitor_uses_the_shared_vocabulary() -> None:
    meanings = short_flag_meanings(get_command(app))
    assert "monitor" in meanings["-i"]["--input"]
    assert "monitor" in meanings["-m"]["--mode"]
    assert "monitor" in meanings["-t"]["--threshold"]
    assert "bench run" not in {p for longs in meanings["-t"].values() for p in longs}


def _spec(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def bad_invocations(tmp_path: Path) -> list[tuple[list[str], str]]:
    """(arguments, a fragment the one line must contain), across every command."""
    zero_timeout = _spec(
        tmp_path, "zero.yaml", f"agent: {AGENT}\ninputs: [1]\nexecution:\n  timeout_s: 0\n"
    )
    broken = _spec(tmp_path, "broken.yaml", "agent: [unclosed\n")
    typo = _spec(
        tmp_path,
        "typo.yaml",
        f"agent: {AGENT}\ninputs: [1]\nthresholds:\n  latncy: ['p(95) < 1s']\n",
    )
    return [
        (["run-batch"], "missing argument SPEC"),
        (["run-batch", AGENT, "--workers", "0"], "--workers: must be at least 1, got 0"),
        (["run-batch", AGENT, "--workers", "abc"], "--workers: expected an integer"),
        (["run-batch", AGENT, "--worker", "2"], "did you mean '--workers'"),
        (["run-batch", AGENT, "-i", "1", "--mode", "thread"], "did you mean 'threads'"),
        (["run-batch", AGENT, "--inputs", "nope.jsonl"], "--inputs: input file not found"),
        (["run-batch", zero_timeout], "zero.yaml:4: execution.timeout_s: must be more than 0"),
        (["run-batch", broken], "broken.yaml:2:1: invalid YAML"),
        (["run-batch", "no_such_module:agent", "-i", "1"], "no_such_module"),
        (["run-batch", AGENT, "--timeout", "0"], "--timeout: must be more than 0"),
        (["run-batch", AGENT, "--max-error-rate", "2"], "--max-error-rate: must be at most"),
        (["run-batch", typo], "did you mean 'latency'"),
        (["run-batch", AGENT, "--workers"], "--workers: needs a value"),
        (["bench", "--type", "cpux"], "did you mean 'cpu'"),
        (["bench", "-n", "0"], "--samples: must be at least 1"),
        (["bench", "--min-time", "0"], "--min-time: must be positive"),
        (["bench", "--processes", "x"], "--processes: expected auto"),
        (["bench", "-t", "cpu"], "-t is --threshold"),
        (["bench", "compare", "a.json"], "missing argument NEW.json"),
        (["bench", "compare", "a.json", "b.json"], "a.json: baseline file not found"),
        (["bench", AGENT, "--fail-if-slower", "5%"], "--fail-if-slower/--fail-if-more-memory:"),
        (["bench", AGENT, "--run-noise", "lots"], "--run-noise: expected a percentage"),
        (["profile"], "missing argument WORKLOAD"),
        (["profile", AGENT, "--max-peak", "lots"], "--max-peak:"),
        (["profile", AGENT, "-n", "0"], "--iterations: must be at least 1"),
        (["profile", AGENT, "--group-by", "file"], "--group-by: unknown grouping 'file'"),
        (["monitor", "--interval", "0"], "--interval: must be more than 0"),
        (["monitor", "--mode", "thread"], "--mode: unknown mode 'thread'"),
        (["monitor", "--cpu-limits", "70,80"], "--cpu-limits: expected three rising"),
        (["monitor", "-t", "latncy: p(95) < 1ms"], "--threshold: unknown metric 'latncy'"),
        (["monitor", "--pid", "1", "--", "true"], "monitor: watch one thing"),
        (["monitor", "--minutes", "0"], "--minutes/--seconds: must add up"),
        (["monitor", "--", "no-such-command-18"], "no-such-command-18: command not found"),
        (["cache", "nosuch"], "no such command 'nosuch'"),
        (["cache", "stats", "--redis-url", "bogus://x"], "Redis URL bogus://x:"),
        (["nosuch"], "agentperf: no such command 'nosuch'"),
        (["--nope"], "--nope: no such option for agentperf"),
    ]


ONE_LINE = re.compile(r"^error: \S.*?: \S.*$")


def test_every_bad_invocation_is_one_error_line_and_exit_2(
    tmp_path: Path, monkeypatch: Any
) -> None:
    monkeypatch.chdir(REPO)
    cases = bad_invocations(tmp_path)
    assert len(cases) >= 25
    for args, fragment in cases:
        result = runner.invoke(app, args)
        lines = result.output.strip().splitlines()
        assert result.exit_code == 2, (args, result.output)
        assert len(lines) == 1 and ONE_LINE.match(lines[0]), (args, result.output)
        assert fragment in lines[0], (args, lines[0])
        where, what = lines[0].removeprefix("error: ").split(": ", 1)
        assert not what.startswith(f"{where}:"), lines[0]  # no "--inputs: --inputs:"
        assert "Traceback" not in result.output and "╭" not in result.output


def test_the_console_script_prints_the_same_line() -> None:
    """A real process, not the test runner: stderr is one line, stdout empty, exit 2."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "agentperf", "run-batch", AGENT, "--workers", "0"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip() == "error: --workers: must be at least 1, got 0"


def test_debug_shows_the_traceback_and_keeps_the_exit_code(tmp_path: Path) -> None:
    spec = _spec(
        tmp_path, "zero.yaml", f"agent: {AGENT}\ninputs: [1]\nexecution:\n  timeout_s: 0\n"
    )
    result = runner.invoke(app, ["run-batch", spec, "--debug"])
    assert result.exit_code == 2
    assert "Traceback" in result.output and "SpecError" in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: ")
    usage = runner.invoke(app, ["run-batch", AGENT, "--workers", "0", "--debug"])
    assert usage.exit_code == 2 and "Traceback" in usage.output


def _helps() -> list[list[str]]:
    return [[], *[path.split() for path, _ in walk(get_command(app))], ["bench"], ["cache"]]


@pytest.mark.parametrize("words", _helps(), ids=lambda w: " ".join(w) or "agentperf")
def test_help_is_plain_grouped_and_whole_at_80_columns(words: list[str]) -> None:
    result = runner.invoke(app, [*words, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    text = result.output
    assert all(len(line) <= 80 for line in text.splitlines()), text
    assert not re.search(r"<\w|\{[A-Z]|…|(?<!\])\.\.\.\s*$", text, re.M), text
    for param in _params(words):
        for opt in param.opts:
            assert re.search(rf"(^|[\s,]){re.escape(opt)}\b", text), (opt, text)
    if words and words != ["cache"]:
        assert "Output:" in text and "Options:" not in text  # every option has a panel


def _params(words: list[str]) -> list[Any]:
    command: Any = get_command(app)
    for word in words or []:
        command = command.commands[word]
    if getattr(command, "commands", None) and words == ["bench"]:
        command = command.commands["run"]
    return [p for p in command.params if getattr(p, "param_type_name", "") == "option"]


def test_help_ranges_are_what_the_option_refuses() -> None:
    """Every option whose help shows a range refuses the value just outside it, and
    accepts the bound itself (the help says >=1, so 0 is refused and 1 is not)."""
    from typer._click.exceptions import BadParameter

    from agentperf.cli.usage_errors import usage_error_line

    checked = 0
    for path, command in walk(get_command(app)):
        help_text = runner.invoke(app, [*path.split(), "--help"]).output
        positional = [
            "x"
            for p in command.params
            if getattr(p, "param_type_name", "") == "argument" and p.required
        ]
        for param in command.params:
            low = getattr(param, "min", None)
            if low is None or not getattr(param, "opts", None):
                continue
            long = next(o for o in param.opts if o.startswith("--"))
            assert f">={low}" in help_text or f"{low}-" in help_text, (path, long)
            with pytest.raises(BadParameter) as refused:
                command.make_context(path, [*positional, long, str(low - 1)])
            assert usage_error_line(refused.value).startswith(f"{long}: must be at least {low}"), (
                path,
                long,
            )
            ctx = command.make_context(path, [*positional, long, str(low)])
            assert ctx.params[param.name] == low
            checked += 1
    assert checked >= 10


def test_output_is_the_full_json_result_in_bench_as_elsewhere(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """-o/--output means the command's machine-readable result file in bench too."""
    monkeypatch.chdir(REPO / "tests")
    out = tmp_path / "bench.json"
    result = runner.invoke(
        app,
        [
            "bench",
            "bench_agents:one_us",
            "--samples",
            "3",
            "--min-time",
            "1ms",
            "--processes",
            "0",
            "--warmup",
            "0",
            "--json",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text()) == json.loads(result.stdout)
    missing = runner.invoke(app, ["bench", "-o", str(tmp_path / "no" / "x.json")])
    assert missing.exit_code == 2 and "error: --output" in missing.output
