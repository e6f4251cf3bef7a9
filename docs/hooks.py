"""MkDocs hook: renders the CLI reference page from the Typer app at build time.

Why: a hand-written option table drifts from the code the day someone renames a flag.
This page is built from ``typer.main.get_command(app)``, the same Click objects that
parse the command line, so every command, argument and option in the docs is one the
CLI accepts, with the help text, metavar, default and help panel it shows in ``--help``.

``docs/cli.md`` holds the marker below; ``render_cli_reference()`` replaces it. The
tests call the same function, so the page and the checks cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

MARKER = "<!-- agentperf-cli-reference -->"
DEFAULT_PANEL = "Options"


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any, **_: Any) -> str:
    """MkDocs event: fill in the CLI reference where the marker is."""
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, render_cli_reference())


def render_cli_reference(app: Any = None, name: str = "agentperf") -> str:
    """Markdown for every visible command of ``app`` (agentperf's), depth first, in CLI order."""
    import typer.main

    if app is None:
        from agentperf.cli.app import app

    root = typer.main.get_command(app)
    ctx = root.context_class(root, info_name=name)
    return "\n".join(_command_lines(root, ctx, level=2)).rstrip() + "\n"


def _command_lines(command: Any, ctx: Any, level: int) -> Iterator[str]:
    # Duck-typed: recent Typer versions carry their own copy of Click, older ones use Click.
    yield f"{'#' * level} `{ctx.command_path}`"
    yield ""
    yield f"```text\n{_usage(command, ctx)}\n```"
    yield ""
    text = _plain(command.help or "")
    if text:
        yield text
        yield ""
    yield from _arguments_table(command, ctx)
    yield from _options_tables(command, ctx, level + 1)
    if command.epilog:
        yield _plain(command.epilog)
        yield ""
    if hasattr(command, "list_commands"):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            sub_ctx = sub.context_class(sub, info_name=name, parent=ctx)
            yield from _command_lines(sub, sub_ctx, level + 1)


def _usage(command: Any, ctx: Any) -> str:
    pieces = " ".join(command.collect_usage_pieces(ctx))
    return f"Usage: {ctx.command_path} {pieces}".rstrip()


def _arguments_table(command: Any, ctx: Any) -> Iterator[str]:
    arguments = [
        p
        for p in command.get_params(ctx)
        if p.param_type_name == "argument" and not getattr(p, "hidden", False)
    ]
    if not arguments:
        return
    yield "| argument | description |"
    yield "|---|---|"
    for argument in arguments:
        record = argument.get_help_record(ctx)
        name, help_text = record if record else (argument.human_readable_name, "")
        required = " (required)" if argument.required else ""
        yield f"| `{name}`{required} | {_cell(help_text)} |"
    yield ""


def _options_tables(command: Any, ctx: Any, level: int) -> Iterator[str]:
    """One table per help panel (workload, execution, ...), in the order --help shows them."""
    panels: dict[str, list[Any]] = {}
    for param in command.get_params(ctx):
        if param.param_type_name != "option" or param.hidden:
            continue
        panel = getattr(param, "rich_help_panel", None) or DEFAULT_PANEL
        panels.setdefault(panel, []).append(param)
    for panel, options in panels.items():
        if len(panels) > 1 or panel != DEFAULT_PANEL:
            yield f"{'#' * min(level, 6)} {panel}"
            yield ""
        yield "| option | default | description |"
        yield "|---|---|---|"
        for option in options:
            record = option.get_help_record(ctx)
            if record is None:
                continue
            names, help_text = record
            yield f"| `{names}` | {_default(option)} | {_cell(help_text)} |"
        yield ""


def _default(param: Any) -> str:
    """The default ``--help`` shows, from the parameter itself (flags and empty lists: none)."""
    shown = getattr(param, "show_default", None)
    if isinstance(shown, str):
        return _cell(shown)
    default = param.default
    if shown is False or getattr(param, "is_flag", False) or default in (None, (), []):
        return ""
    if callable(default):
        return ""
    return f"`{_cell(str(default))}`"


def _plain(text: str) -> str:
    """Help text as plain Markdown: Rich markup removed, Click's ``\\b`` markers dropped."""
    from rich.text import Text

    lines = [line for line in text.splitlines() if line.strip() != "\b"]
    return Text.from_markup("\n".join(lines)).plain.strip()


def _cell(text: str) -> str:
    """One table cell: no newlines, pipes escaped, Rich markup removed."""
    return " ".join(_plain(text).split()).replace("|", "\\|")
