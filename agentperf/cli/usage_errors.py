"""Click's usage errors as agentperf's one line: ``error: WHERE: WHAT`` and exit 2.

Typer renders a usage error as a box of five or six lines after a usage line; agentperf
errors (spec, file, dotted path) are one line. This module is the one place a Click
error becomes that one line, so an option typo and a spec typo read alike in a CI log.
"""

from __future__ import annotations

from typing import Any

from agentperf.cli.common import SHORT_FLAGS
from agentperf.errors import did_you_mean

#: Pydantic-style error types Typer's coercion reports, in words a CLI user expects.
RANGE_WORDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be more than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
}
PARSE_WORDS = {
    "int_parsing": "expected an integer",
    "int_from_float": "expected an integer",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
}


def usage_error_line(exc: Any) -> str:
    """The ``WHERE: WHAT`` of a Click ``UsageError`` (without the ``error:`` prefix)."""
    from typer._click import exceptions as click_exc

    command = _command_path(exc)
    if isinstance(exc, click_exc.NoSuchOption):
        return _no_such_option(exc, command)
    if isinstance(exc, click_exc.MissingParameter):
        return _missing(exc, command)
    if isinstance(exc, click_exc.BadParameter):
        return f"{_param_name(exc.param, command)}: {_bad_value(exc)}"
    if isinstance(exc, click_exc.BadOptionUsage):
        message = exc.message
        if "requires an argument" in message:
            return f"{exc.option_name}: needs a value"
        return f"{exc.option_name}: {_sentence(message)}"
    return f"{command}: {_sentence(_strip_did_you_mean(exc.message))}{_command_hint(exc)}"


def _command_path(exc: Any) -> str:
    ctx = getattr(exc, "ctx", None)
    path = ctx.command_path if ctx is not None else ""
    return path if path and path != "-" else "agentperf"


def _no_such_option(exc: Any, command: str) -> str:
    options: list[str] = []
    ctx = getattr(exc, "ctx", None)
    if ctx is not None:
        for param in ctx.command.params:
            options.extend(getattr(param, "opts", ()))
            options.extend(getattr(param, "secondary_opts", ()))
    name = exc.option_name
    hint = did_you_mean(name, [o for o in options if o.startswith("--")])
    if not hint and name in SHORT_FLAGS:
        hint = f" ({name} is {'/'.join(SHORT_FLAGS[name])} in the commands that take it)"
    return f"{name}: no such option for {command}{hint}"


def _missing(exc: Any, command: str) -> str:
    param = exc.param
    if param is not None and getattr(param, "param_type_name", "") == "argument":
        name = param.metavar or (param.name or "").upper()
        return f"{command}: missing argument {name} (see {command} --help)"
    return f"{_param_name(param, command)}: is required"


def _param_name(param: Any, command: str) -> str:
    if param is None:
        return command
    opts = [o for o in getattr(param, "opts", ()) if o.startswith("--")]
    if opts:
        return opts[0]
    return param.metavar or (param.name or "").upper()


def _bad_value(exc: Any) -> str:
    """Typer wraps a pydantic validation error; read its type, limit and input."""
    cause = exc.__cause__
    errors = cause.errors() if cause is not None and hasattr(cause, "errors") else []
    if not errors:
        return _sentence(exc.message)
    first = errors[0]
    got = f", got {shown(first['input'])}" if "input" in first else ""
    kind = first.get("type", "")
    if kind in RANGE_WORDS:
        key, words = RANGE_WORDS[kind]
        limit = (first.get("ctx") or {}).get(key)
        if limit is not None:
            return words.format(limit) + got
    if kind in PARSE_WORDS:
        return PARSE_WORDS[kind] + got
    return _sentence(str(first.get("msg", exc.message))) + got


def shown(value: object) -> str:
    """``0`` for a number, ``'abc'`` for anything else."""
    text = str(value)
    try:
        float(text)
    except ValueError:
        return repr(text)
    return text


def _sentence(message: str) -> str:
    message = message.strip().rstrip(".")
    return message[:1].lower() + message[1:] if message[1:2].islower() else message


def _strip_did_you_mean(message: str) -> str:
    return message.split(". Did you mean")[0]


def _command_hint(exc: Any) -> str:
    """``did you mean`` for a mistyped command name."""
    message = exc.message
    ctx = getattr(exc, "ctx", None)
    if not message.startswith("No such command") or ctx is None:
        return ""
    typo = message.split("'")[1] if message.count("'") >= 2 else ""
    commands = getattr(ctx.command, "commands", {})
    return did_you_mean(typo, list(commands))
