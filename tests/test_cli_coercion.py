"""Plain option coercion against Typer's own (pydantic) on the real options: the same
value, or an error both ways. A run-batch parses its options without importing pydantic
(``agentperf/cli/coercion.py``); ``tests/test_run_cost.py`` checks it is not imported."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer._click.exceptions import BadParameter
from typer._coercion import build_runtime_param
from typer.main import get_command

from agentperf.cli.app import app
from agentperf.cli.coercion import PlainRuntimeParam, plain_runtime_param

VALUES: dict[str, list[Any]] = {
    "workers": ["3", " 3 ", "3.0", "1_000", "+2", "0", "-1", "3.5", "1e3", "abc", "", 4],
    "timeout": ["2.5", " 1 ", "1e-3", "1_0.5", "abc", "", "inf", 2],
    "max_error_rate": ["0", "0.5", "1", "1.0", "2", "-0.1", "x"],
    "sample_interval": ["0", "0.25", "-1", "nan"],
    "threshold": [("p(95) < 1s",), ("a", "b"), ()],
    "cache": [True, False, "true", "no", "maybe"],
    "output": ["out.jsonl", Path("x/y.jsonl")],
    "spec": ["mod:agent", " spaced "],
}


def run_batch_params() -> dict[str, Any]:
    command = get_command(app).commands["run-batch"]  # type: ignore[attr-defined]
    return {p.name: p for p in command.params}


def outcome(runtime: Any, param: Any, value: Any) -> Any:
    try:
        result = runtime.coerce(value, param=param, ctx=None)
    except BadParameter:
        return "error"
    return repr(result)


@pytest.mark.parametrize("name", sorted(VALUES))
def test_plain_coercion_matches_typers_own(name: str) -> None:
    param = run_batch_params()[name]
    assert isinstance(param._runtime_param, PlainRuntimeParam), name  # installed
    typers = build_runtime_param(param.type_descriptor)
    assert not isinstance(typers, PlainRuntimeParam)
    for value in VALUES[name]:
        got, want = outcome(param._runtime_param, param, value), outcome(typers, param, value)
        assert got == want, (name, value)


def test_an_option_typer_must_keep_is_left_alone() -> None:
    """The must-not-fire side: an annotation outside the plain set keeps Typer's coercion."""
    import typer

    probe = typer.Typer()

    @probe.command()
    def one(when: tuple[int, int] = typer.Option((1, 2))) -> None:
        """A tuple option."""

    (param,) = [p for p in get_command(probe).params if p.name == "when"]
    assert plain_runtime_param(param) is None
