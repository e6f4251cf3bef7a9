"""agentperf's Click command classes: plain, grouped help and one-line usage errors.

Help is rendered here rather than by Typer's Rich tables, for three reasons: option
names and descriptions are never cut at 80 columns (a long name puts its description on
the next line, as argparse does); metavars are plain words (``TEXT``, ``INTEGER``,
``PATH``, ``SPEC``, ``PCT``) rather than ``<list[str]>``; and ``--help`` builds no Rich
table, so it costs no more than a bare Typer app's (``benchmarks/cli_startup.py``).
Options are grouped by their ``rich_help_panel`` (see the ``PANEL_*`` constants in
:mod:`agentperf.cli.common`), in the order of :data:`PANEL_ORDER`.
"""

from __future__ import annotations

import inspect
import sys
import textwrap
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from typer.core import TyperCommand, TyperGroup

from agentperf.cli import common
from agentperf.cli.coercion import use_plain_coercion
from agentperf.errors import AgentperfError, ExitCode

#: Panels in reading order; a panel not listed here follows them, then "Options".
PANEL_ORDER = (
    common.PANEL_WORKLOAD,
    common.PANEL_EXECUTION,
    common.PANEL_MEASURE,
    common.PANEL_WATCH,
    common.PANEL_CACHE,
    common.PANEL_GATES,
    common.PANEL_REPORTS,
    common.PANEL_OUTPUT,
)
_TYPE_METAVARS = {int: "INTEGER", float: "NUMBER", Path: "PATH", str: "TEXT"}
#: Where a command's one-line summary ends in the command list.
_SUMMARY_LIMIT = 150
#: Names longer than this put their description on the next line instead of squeezing it.
_NAME_COLUMN_MAX = 28


def metavar(param: Any) -> str:
    """The plain word shown after an option or for an argument."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    if param.metavar:
        return str(param.metavar).strip("{}")
    desc = getattr(param, "type_descriptor", None)
    annotation = getattr(desc, "annotation", str)
    if getattr(desc, "is_list", False):
        annotation = (getattr(annotation, "__args__", None) or (str,))[0]
    return _TYPE_METAVARS.get(annotation, "TEXT")


def _option_names(param: Any) -> str:
    shorts = [o for o in param.opts if not o.startswith("--")]
    longs = [o for o in param.opts if o.startswith("--")]
    names = ", ".join([*shorts, *longs]) if shorts else "    " + ", ".join(longs)
    if param.secondary_opts:
        names += " / " + ", ".join(param.secondary_opts)
    word = metavar(param)
    return f"{names} {word}" if word else names


def _extras(param: Any) -> str:
    """``[default: 20; >=1]``: the same limits the option refuses values by."""
    parts = []
    default = param.default
    if (
        not getattr(param, "is_flag", False)
        and default not in (None, (), [], "")
        and not callable(default)
        and getattr(param, "show_default", True) is not False
    ):
        parts.append(f"default: {default}")
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        parts.append(f"{low}-{high}")
    elif low is not None:
        parts.append(f">={low}")
    elif high is not None:
        parts.append(f"<={high}")
    if getattr(param, "required", False):
        parts.append("required")
    return f"  [{'; '.join(parts)}]" if parts else ""


def _panel(param: Any) -> str:
    if param.name in ("help", "version"):
        return common.PANEL_OUTPUT
    return getattr(param, "rich_help_panel", None) or "Options"


def _panels(params: Sequence[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    found: dict[str, list[tuple[str, str]]] = {}
    for param in params:
        if param.param_type_name != "option" or param.hidden:
            continue
        row = (_option_names(param), (param.help or "") + _extras(param))
        found.setdefault(_panel(param), []).append(row)
    order = [p for p in PANEL_ORDER if p in found]
    order += [p for p in found if p not in order and p != "Options"]
    order += ["Options"] if "Options" in found else []
    return [(name, found[name]) for name in order]


def _usage_pieces(command: Any, ctx: Any) -> str:
    pieces = ["[OPTIONS]"]
    for param in command.get_params(ctx):
        if param.param_type_name != "argument":
            continue
        word = metavar(param) + ("..." if param.nargs != 1 else "")
        pieces.append(word if param.required else f"[{word}]")
    if isinstance(command, TyperGroup):
        pieces.append("COMMAND [ARGS]...")
    return " ".join(pieces)


def render_help(command: Any, ctx: Any, formatter: Any) -> None:
    """Usage, description, arguments, option panels, commands, epilog."""
    formatter.write_usage(ctx.command_path, _usage_pieces(command, ctx))
    width = formatter.width
    if command.help:
        formatter.write("\n")
        _write_paragraphs(formatter, inspect.cleandoc(command.help), indent=2, width=width)
    params = command.get_params(ctx)
    arguments = [
        (metavar(p), (p.help or "") + ("  [required]" if p.required else ""))
        for p in params
        if p.param_type_name == "argument"
    ]
    sections = [("Arguments", arguments)] if arguments else []
    sections += _panels(params)
    if isinstance(command, TyperGroup):
        rows = [
            (name, sub.get_short_help_str(_SUMMARY_LIMIT))
            for name in command.list_commands(ctx)
            if (sub := command.get_command(ctx, name)) is not None and not sub.hidden
        ]
        sections.append(("Commands", rows))
    # One column for every panel, so descriptions line up down the whole page.
    column = min(
        max((len(name) for _, rows in sections for name, _ in rows), default=0), _NAME_COLUMN_MAX
    )
    for title, rows in sections:
        formatter.write(f"\n{title}:\n")
        for name, text in rows:
            _write_row(formatter, name, text, column, width)
    if command.epilog:
        formatter.write("\n")
        _write_paragraphs(formatter, inspect.cleandoc(command.epilog), indent=0, width=width)


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width``, never breaking an option name at its hyphens."""
    return textwrap.wrap(text, max(width, 20), break_on_hyphens=False, break_long_words=False) or [
        ""
    ]


def _write_paragraphs(formatter: Any, text: str, *, indent: int, width: int) -> None:
    for i, paragraph in enumerate(text.split("\n\n")):
        if i:
            formatter.write("\n")
        for line in _wrap(" ".join(paragraph.split()), width - indent):
            formatter.write(" " * indent + line + "\n")


def _write_row(formatter: Any, name: str, text: str, column: int, width: int) -> None:
    """``  NAME  description``; a name wider than the column puts it on the next line."""
    lead = 2 + column + 2
    lines = _wrap(text, width - lead) if text else []
    if len(name) > column or not lines:
        formatter.write(f"  {name}\n")
    else:
        formatter.write(f"  {name.ljust(column)}  {lines.pop(0)}\n")
    for line in lines:
        formatter.write(" " * lead + line + "\n")


def _run_main(
    command: Any,
    parent_main: Any,
    args: Sequence[str] | None,
    prog_name: str | None,
    complete_var: str | None,
    standalone_mode: bool,
    **extra: Any,
) -> Any:
    """Click's ``main`` with every usage error as one ``error:`` line and exit 2.

    With ``--debug`` the traceback is printed above the same line and the same exit code.
    """
    from typer._click import exceptions as click_exc
    from typer.exceptions import Abort

    argv = list(sys.argv[1:] if args is None else args)
    if not standalone_mode:
        return parent_main(argv, prog_name, complete_var, standalone_mode, **extra)
    try:
        code = parent_main(argv, prog_name or "agentperf", complete_var, False, **extra)
    except click_exc.NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "")
        sys.exit(0)
    except (click_exc.ClickException, AgentperfError) as exc:
        if "--debug" in argv:
            traceback.print_exc()
        _exit_with_error(exc)
    except Abort:
        sys.exit(int(ExitCode.INTERRUPTED))
    sys.exit(code if isinstance(code, int) else 0)


def _exit_with_error(exc: Any) -> NoReturn:
    from typer._click.exceptions import UsageError

    from agentperf.cli.usage_errors import usage_error_line

    if isinstance(exc, AgentperfError):
        common.print_error(exc.message)
        sys.exit(int(exc.exit_code))
    line = usage_error_line(exc) if isinstance(exc, UsageError) else exc.format_message()
    common.print_error(line)
    sys.exit(int(ExitCode.USAGE))


def _cheap_help_option(option: Any) -> Any:
    """Typer leaves ``--help``'s default None, so a group whose ``--help`` was not given
    coerces None through pydantic (a 0.2 s import) before its subcommand's ``--help``
    runs; False is what the flag means and skips that."""
    if option is not None and option.default is None:
        option.default = False
    return option


def _plain_metavars(params: Sequence[Any]) -> None:
    """Give every option its plain metavar, so generated docs (``typer ... utils docs``)
    show ``INTEGER`` and ``PATH`` as ``--help`` does, not ``<int range>``."""
    for param in params:
        if param.param_type_name == "option" and param.metavar is None:
            word = metavar(param)
            if word:
                param.metavar = word


class _AgentperfHelp:
    """Help layout and the one-line error, shared by commands and groups (mixed in
    before Typer's class, so ``super()`` reaches it)."""

    params: list[Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _plain_metavars(self.params)
        use_plain_coercion(self.params)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage_pieces(self, ctx).split(" ")

    def get_help_option(self, ctx: Any) -> Any:
        return _cheap_help_option(super().get_help_option(ctx))  # type: ignore[misc]

    def format_help(self, ctx: Any, formatter: Any) -> None:
        render_help(self, ctx, formatter)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        return _run_main(
            self, super().main, args, prog_name, complete_var, standalone_mode,  # type: ignore[misc]
            **extra,
        )


class AgentperfCommand(_AgentperfHelp, TyperCommand):
    """A command with agentperf's help and error line."""


class AgentperfGroup(_AgentperfHelp, TyperGroup):
    """A group with agentperf's help and error line."""
