"""Plain option values without pydantic: the coercion Typer would build per invocation.

Typer 0.29 turns every option's value into its annotated type through a pydantic
``TypeAdapter`` built on first use: importing pydantic and building the adapters for
run-batch's 25 options took ~0.1 s of a one-input run's ~0.45 s. agentperf's options
are all ``str``, ``int``, ``float``, ``bool``, ``Path`` or ``list[str]`` with at most a
``min``/``max``, which a few lines of Python check as pydantic's lax mode does
(``" 3 "``, ``"3.0"`` and ``"1_000"`` are integers; ``"3.5"`` is not). A ``Path`` goes
through Typer's own path checks (``exists=``, readable...); any other annotation
(``Enum``, ``parser=``, ``clamp``, tuples, files) keeps Typer's own coercion.

Errors carry the words :mod:`agentperf.cli.usage_errors` gives pydantic's errors, so
``--workers 0`` reads ``error: --workers: must be at least 1, got 0`` either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam
from typer._param_types import coerce_cli_path
from typer.core import _TyperParameter

from agentperf.cli.usage_errors import PARSE_WORDS, RANGE_WORDS, shown

_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off", ""})


class _Invalid(ValueError):
    """A value that does not parse; ``kind`` is a key of ``PARSE_WORDS``."""

    def __init__(self, kind: str, value: Any) -> None:
        super().__init__(f"{PARSE_WORDS[kind]}, got {shown(value)}")


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip()
    whole, dot, fraction = text.partition(".")
    if dot and not fraction.strip("0"):  # "3.0" is 3, as pydantic reads it
        text = whole
    try:
        return int(text)
    except ValueError:
        raise _Invalid("int_parsing", value) from None


def _to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        raise _Invalid("float_parsing", value) from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _Invalid("bool_parsing", value)


def _to_str(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


_CONVERTERS: dict[Any, Callable[[Any], Any]] = {
    int: _to_int,
    float: _to_float,
    bool: _to_bool,
    str: _to_str,
}


@dataclass(frozen=True)
class PlainRuntimeParam(RuntimeParam):
    """One option's coercion: a converter, the option's limits, list or not."""

    convert: Callable[[Any], Any] | None  # None: a path
    many: bool = False

    def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Any) -> Any:
        if self.convert is None:  # Typer's own checks (exists, readable...) on a Path
            path = value if isinstance(value, Path) else Path(_to_str(value))
            info = self.parameter_info
            return coerce_cli_path(path, info, path_type=Path, param=param, ctx=ctx)
        try:
            if self.many:
                items = value if isinstance(value, (list, tuple)) else [value]
                return [self._one(item) for item in items]
            return self._one(value)
        except ValueError as exc:
            raise BadParameter(str(exc), ctx=ctx, param=param) from None

    def _one(self, value: Any) -> Any:
        assert self.convert is not None
        result = self.convert(value)
        low, high = self.parameter_info.min, self.parameter_info.max
        if low is not None and not result >= low:  # NaN too, as pydantic refuses it
            words = RANGE_WORDS["greater_than_equal"][1].format(low)
        elif high is not None and not result <= high:
            words = RANGE_WORDS["less_than_equal"][1].format(high)
        else:
            return result
        raise ValueError(f"{words}, got {shown(value)}")


def plain_runtime_param(param: Any) -> PlainRuntimeParam | None:
    """The plain coercion for ``param``, or None where Typer's own must stay."""
    desc = getattr(param, "type_descriptor", None)
    if desc is None or desc.file_annotation is not None:
        return None
    info = desc.parameter_info
    if info.parser is not None or info.clamp or info.path_type not in (None, Path):
        return None
    annotation, many = desc.annotation, desc.is_list
    if many:
        annotation = (getattr(annotation, "__args__", None) or (None,))[0]
    if annotation is Path and not many:
        convert = None
    elif (convert := _CONVERTERS.get(annotation)) is None:
        return None
    return PlainRuntimeParam(
        parameter_info=info, annotation=desc.annotation, convert=convert, many=many
    )


def use_plain_coercion(params: Sequence[Any]) -> None:
    """Give every option and argument Typer would coerce through pydantic the plain one."""
    for param in params:
        if isinstance(param, _TyperParameter) and param._runtime_param is None:
            plain = plain_runtime_param(param)
            if plain is not None:
                param._runtime_param = plain
