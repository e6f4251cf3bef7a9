"""The documentation: the mkdocs site builds strictly, and its commands are real.

Every ``agentperf ...`` command in a ``bash``/``console``/``sh`` block (and every
``run: agentperf ...`` step of a ``yaml`` block) of README.md and docs/ is parsed by the
CLI's own Click objects, so a renamed or removed flag fails here rather than in a
reader's terminal. A chosen set of cheap examples is also run, as a subprocess.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer.main

from agentperf.cli.app import app

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
SHELL_LANGS = {"bash", "console", "sh", "shell"}
SEPARATORS = {"&&", "||", "|", ";", "(", ")", "&"}
REDIRECTS = {">", ">>", "<", "2>", "&>"}
ENV = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}


@dataclass(frozen=True)
class Example:
    """One ``agentperf`` command shown in the docs, where it is shown."""

    where: str
    argv: tuple[str, ...]
    #: A console example followed by an ``error:`` line shows a refusal, not a usage.
    shows_error: bool = False

    def __str__(self) -> str:
        return f"{self.where}: agentperf {shlex.join(self.argv)}"


def _blocks(text: str) -> Iterator[tuple[str, int, list[str]]]:
    """Fenced blocks as (language, first line number, lines); indented fences too."""
    lang, start, body = None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^\s*```(\w*)", line)
        if fence and lang is None:
            lang, start, body = fence.group(1), number + 1, []
        elif fence:
            yield lang, start, body
            lang = None
        elif lang is not None:
            body.append(line)


def _shell_lines(lang: str, lines: list[str]) -> Iterator[tuple[int, str]]:
    """Command lines of a shell block: console blocks only the ``$`` lines; ``\\`` joined."""
    pending, first = "", 0
    for offset, line in enumerate(lines):
        if lang == "console" and not pending:
            if not line.startswith("$ "):
                continue
            line = line[2:]
        if not pending:
            first = offset
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield first, pending + line
        pending = ""


def _shows_error(lang: str, lines: list[str], offset: int) -> bool:
    following = lines[offset + 1] if offset + 1 < len(lines) else ""
    return lang == "console" and following.startswith("error:")


def _yaml_run_lines(lines: list[str]) -> Iterator[tuple[int, str]]:
    """``run:`` steps of a workflow, folded (``run: >``) steps joined into one line."""
    for offset, line in enumerate(lines):
        match = re.match(r"^(\s*)(?:- )?\s*run:\s*(.*)$", line)
        if not match:
            continue
        value = match.group(2).strip()
        if value not in (">", "|", ">-", "|-"):
            yield offset, value
            continue
        key_column, body = line.index("run:"), []
        for following in lines[offset + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= key_column:
                break
            body.append(following.strip())
        yield offset, " ".join(body)


def _commands(line: str) -> Iterator[list[str]]:
    """The simple commands of a shell line: split on ``&&``, pipes and ``;``, redirects dropped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    words: list[str] = []
    skip_next = False
    for token in lexer:
        if skip_next:
            skip_next = False
        elif token in SEPARATORS:
            yield words
            words = []
        elif token in REDIRECTS:
            skip_next = True
        else:
            words.append(token)
    yield words


def doc_examples(files: tuple[Path, ...] = DOC_FILES, root: Path = ROOT) -> list[Example]:
    found = []
    for path in files:
        name = path.relative_to(root).as_posix()
        for lang, start, body in _blocks(path.read_text(encoding="utf-8")):
            if lang in SHELL_LANGS:
                lines = _shell_lines(lang, body)
            elif lang == "yaml":
                lines = _yaml_run_lines(body)
            else:
                continue
            for offset, line in lines:
                for words in _commands(line):
                    while words and re.match(r"^\w+=", words[0]):
                        words = words[1:]  # VAR=value agentperf ...
                    if words and words[0] == "agentperf":
                        found.append(Example(f"{name}:{start + offset}", tuple(words[1:]),
                                             _shows_error(lang, body, offset)))
    return found


def parse_error(argv: tuple[str, ...]) -> str | None:
    """What the CLI says about ``agentperf ARGV``, parsed down to its (sub)command; None: fine.

    Parsing runs the parameters' type conversion and callbacks, as a real invocation does,
    and stops before the command runs.
    """
    root = typer.main.get_command(app)
    try:
        ctx = root.make_context("agentperf", list(argv))
        command: Any = root
        while hasattr(command, "resolve_command"):
            protected = getattr(ctx, "_protected_args", None)
            rest = [*(ctx.protected_args if protected is None else protected), *ctx.args]
            if not rest:
                break
            name, command, rest = command.resolve_command(ctx, rest)
            ctx = command.make_context(name, rest, parent=ctx)
    except Exception as exc:  # Typer may carry its own copy of Click: match by shape
        if type(exc).__name__ == "Exit" and getattr(exc, "exit_code", 1) == 0:
            return None  # --help, --version
        if hasattr(exc, "format_message"):
            return f"{type(exc).__name__}: {exc.format_message()}"
        raise
    return None


EXAMPLES = doc_examples()


def test_the_docs_show_commands_of_every_command() -> None:
    shown = {example.argv[0] for example in EXAMPLES if example.argv}
    assert {"run-batch", "bench", "profile", "monitor", "cache"} <= shown
    assert len(EXAMPLES) >= 40, [str(e) for e in EXAMPLES]
    readme = [e for e in EXAMPLES if e.where.startswith("README.md")]
    assert {e.argv[0] for e in readme} >= {"run-batch", "bench", "profile", "monitor"}


def test_every_command_example_parses(capsys: pytest.CaptureFixture[str]) -> None:
    failures = [
        f"{example}\n    {error}" for example in EXAMPLES
        if not example.shows_error and (error := parse_error(example.argv))
    ]
    capsys.readouterr()  # help printed by --help examples
    assert not failures, "documented commands the CLI refuses:\n" + "\n".join(failures)


@pytest.mark.parametrize(
    "argv",
    [
        ("run-batch", "workload.yaml", "--no-such-flag"),
        ("run-batch", "workload.yaml", "--workers", "many"),
        ("run-batch", "workload.yaml", "--timeout", "0"),
        ("bench", "compare", "only-one.json"),
        ("cache", "empty"),
        ("no-such-command",),
    ],
)
def test_the_example_check_refuses_what_the_cli_refuses(argv: tuple[str, ...]) -> None:
    assert parse_error(argv)
    # and the real CLI agrees: a usage error, exit 2
    done = subprocess.run(
        [sys.executable, "-m", "agentperf", *argv],
        cwd=ROOT,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr


def test_examples_are_found_in_every_block_shape(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nX=1 agentperf run-batch a.yaml -o r.jsonl  # comment\n"
        "pip install . && agentperf monitor --seconds 1 > out.txt\n"
        "agentperf bench a:b \\\n  --samples 3\n```\n"
        "```console\n$ agentperf cache stats\nagentperf printed this\n```\n"
        "```yaml\n      - run: agentperf profile a:b\n      - run: >\n"
        "          agentperf run-batch w.yaml\n          --threshold 'latency: p(95) < 1s'\n"
        "      - name: gate\n        run: >\n          agentperf monitor\n          --seconds 2\n"
        "      - uses: x\n```\n"
        "```python\nagentperf_not_a_command = 1\n```\n"
        "```\nagentperf bench [WORKLOAD] [OPTIONS]\n```\n"
    )
    found = [e.argv for e in doc_examples((page,), root=tmp_path)]
    assert found == [
        ("run-batch", "a.yaml", "-o", "r.jsonl"),
        ("monitor", "--seconds", "1"),
        ("bench", "a:b", "--samples", "3"),
        ("cache", "stats"),
        ("profile", "a:b"),
        ("run-batch", "w.yaml", "--threshold", "latency: p(95) < 1s"),
        ("monitor", "--seconds", "2"),
    ]


#: Cheap examples that are run for real, with the exit code the docs promise.
RUNS = {
    "run-batch sample_workloads/quickstart.yaml": 0,
    'run-batch sample_workloads/seed_agent.yaml --threshold "latency: p(95) < 500ms" '
    "--report-md report.md": 0,
    "profile sample_workloads.leaky_agent:LeakyAgent --fail-on-leak": 1,
    "cache stats": 0,
    "cache clear --cache-dir .agentperf-cache": 0,
}


@pytest.mark.parametrize("command", list(RUNS))
def test_cheap_examples_run(command: str, tmp_path: Path) -> None:
    argv = tuple(shlex.split(command))
    assert any(e.argv == argv for e in EXAMPLES), f"no longer in the docs: agentperf {command}"
    (tmp_path / "sample_workloads").symlink_to(ROOT / "sample_workloads")
    env = {**ENV, "XDG_CACHE_HOME": str(tmp_path / "xdg"), "COLUMNS": "100"}
    done = subprocess.run(
        [sys.executable, "-m", "agentperf", *argv],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == RUNS[command], done.stdout[-3000:] + done.stderr[-3000:]
    if "--report-md" in argv:
        assert "passed (exit 0)" in (tmp_path / "report.md").read_text(encoding="utf-8")


def test_the_library_example_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (ROOT / "docs" / "library.md").read_text(encoding="utf-8")
    section = text.split("## A batch from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code, "docs/library.md lost its run_batch example"
    monkeypatch.chdir(ROOT)
    exec(compile(code.group(1), "docs/library.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("0 3 of 3 tasks succeeded")
    assert "('latency: p(95) < 2s', True)" in printed[2]


def _options(command: Any, ctx: Any) -> Iterator[tuple[str, str]]:
    for param in command.get_params(ctx):
        if param.param_type_name == "option" and not param.hidden:
            for name in (*param.opts, *param.secondary_opts):
                yield ctx.command_path, name
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from _options(sub, sub.context_class(sub, info_name=name, parent=ctx))


def _load_hooks() -> Any:
    spec = importlib.util.spec_from_file_location(
        "agentperf_docs_hooks", ROOT / "docs" / "hooks.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_reference_groups_options_by_help_panel_and_hides_hidden_ones() -> None:
    tool = typer.Typer(add_completion=False)

    @tool.command("go")
    def go(
        target: str = typer.Argument(..., help="What to run."),
        workers: int = typer.Option(
            4, "--workers", "-w", help="How many.", rich_help_panel="Execution"
        ),
        report: str = typer.Option("", "--report", help="Where | to.", rich_help_panel="Reports"),
        secret: bool = typer.Option(False, "--secret", hidden=True),
    ) -> None:
        """Run [bold]it[/bold]."""

    @tool.command("other")
    def other() -> None:
        """Another."""

    page = _load_hooks().render_cli_reference(tool, name="tool")
    assert "## `tool`" in page and "### `tool go`" in page and "### `tool other`" in page
    assert "Run it." in page and "[bold]" not in page
    assert page.index("#### Execution") < page.index("`-w, --workers") < page.index("#### Reports")
    assert "| `4` |" in page and "Where \\| to." in page and "(required)" in page
    assert "--secret" not in page


def _build(config_dir: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=config_dir,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_site_builds_strictly_with_a_generated_cli_reference(tmp_path: Path) -> None:
    done = _build(ROOT, tmp_path / "site")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "site" / "cli" / "index.html").read_text(encoding="utf-8")
    assert "agentperf-cli-reference" not in page  # the marker was replaced
    root = typer.main.get_command(app)
    options = list(_options(root, root.context_class(root, info_name="agentperf")))
    assert len(options) > 100
    missing = [f"{path} {name}" for path, name in options if f"{name}" not in page]
    assert not missing, f"options missing from the CLI reference: {missing}"
    for command in ("agentperf run-batch", "agentperf bench compare", "agentperf cache clear"):
        assert f"<code>{command}</code>" in page
    assert not (tmp_path / "site" / "hooks.py").exists()


def test_a_broken_link_or_a_page_left_out_of_nav_fails_the_build(tmp_path: Path) -> None:
    shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
    shutil.copytree(ROOT / "docs", tmp_path / "docs")
    with (tmp_path / "docs" / "index.md").open("a", encoding="utf-8") as index:
        index.write("\nSee [the gates](gates.md#no-such-heading).\n")
    (tmp_path / "docs" / "orphan.md").write_text("# Not in nav\n")
    done = _build(tmp_path, tmp_path / "site")
    assert done.returncode != 0
    assert "does not contain an anchor '#no-such-heading'" in done.stderr
    assert "orphan.md" in done.stderr
