"""The workload spec: a YAML file, or a bare dotted path, validated before anything runs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agentperf.errors import SpecError, did_you_mean
from agentperf.execution.settings import EXECUTION_KEYS, ExecutionSettings, load_fields
from agentperf.workload.adapters import AgentAdapter, AgentRef
from agentperf.workload.fingerprint import check_fingerprint_entries
from agentperf.workload.inputs import InputSource, from_file
from agentperf.workload.loader import resolve

if TYPE_CHECKING:
    import yaml

TOP_LEVEL_KEYS = {
    "name": str, "agent": str, "version": str, "call": str, "init": dict, "inputs": object,
    "context": dict, "execution": dict, "cache": dict, "thresholds": dict, "health": dict,
    "max_error_rate": (int, float), "output": str, "repeat": int, "context_param": str,
    "fingerprint": list, "usage": str, "pricing": dict,
}
#: Keys that hold a section: left empty (``cache:``, ``inputs: ~``) they mean the
#: default. Any other key set to null is an error, never a silent default.
NULLABLE_KEYS = {"init", "inputs", "context", "execution", "cache", "thresholds", "health",
                 "inputs.args"}
INPUT_KEYS = {"file": str, "format": str, "generator": str, "args": dict, "repeat": int}


@dataclass(frozen=True)
class WorkloadSpec:
    """A validated workload: agent recipe, inputs, context and settings.

    ``cache``, ``thresholds`` and ``health`` stay raw mappings here; their own modules
    validate them (with :meth:`line_of` for line numbers) before the run starts.
    ``cache`` is None when the spec has no ``cache:`` section (the cache is then off
    unless the command line asks for it). ``fingerprint`` lists, as written, the files
    and packages the agent's cache fingerprint covers besides its own module.
    """

    name: str
    agent: AgentRef
    inputs: InputSource
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    cache: Mapping[str, Any] | None = None
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    health: Mapping[str, Any] = field(default_factory=dict)
    max_error_rate: float | None = None
    output: Path | None = None
    source: str | None = None
    base_dir: Path = field(default_factory=Path.cwd)
    lines: Mapping[str, int] = field(default_factory=dict)
    fingerprint: tuple[str, ...] = ()
    #: The spec's ``pricing:`` (USD per million tokens), validated; None: estimate the
    #: cost from genai-prices.
    pricing: Any = None

    @property
    def context(self) -> Mapping[str, Any]:
        return self.agent.context

    def line_of(self, key_path: str) -> int | None:
        """The YAML line of a dotted key path such as ``cache.ttl`` (None when unknown)."""
        return self.lines.get(key_path)

    def error(self, message: str, key: str) -> SpecError:
        return SpecError(message, source=self.source, key=key, line=self.line_of(key))

    def build_agent(self) -> AgentAdapter:
        return self.agent.build()


def load_workload(reference: str, *, inputs: Sequence[str] = (), inputs_file: str | None = None,
                  cwd: Path | None = None) -> WorkloadSpec:
    """Load a YAML spec file or a bare dotted path; raise :class:`SpecError` on bad input."""
    cwd = (cwd or Path.cwd()).resolve()
    path = Path(reference)
    if path.suffix.lower() in (".yaml", ".yml") or (path.exists() and path.is_file()):
        if not path.is_file():
            raise SpecError(f"spec file not found: {reference}")
        spec = load_spec_file(path)
        if inputs or inputs_file:
            spec = replace(spec, inputs=_cli_inputs(inputs, inputs_file, cwd))
        return spec
    agent = AgentRef(target=reference, search_paths=(str(cwd),), source=None)
    _check_importable(agent, {})
    name = reference.rpartition(":")[2] or reference
    return WorkloadSpec(name=name, agent=agent, inputs=_cli_inputs(inputs, inputs_file, cwd),
                        base_dir=cwd)


def _cli_inputs(inputs: Sequence[str], inputs_file: str | None, cwd: Path) -> InputSource:
    if inputs_file:
        return from_file((cwd / inputs_file).resolve(), source="--inputs", key="")
    if not inputs:
        return InputSource(kind="none")
    items = []
    for raw in inputs:
        try:
            items.append(json.loads(raw))
        except json.JSONDecodeError:
            items.append(raw)  # a bare word is a string input, as a shell user means it
    return InputSource(kind="inline", items=tuple(items))


def load_spec_file(path: Path) -> WorkloadSpec:
    import yaml  # here: a dotted-path run reads no YAML (~15 ms of its start-up)

    source = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read spec: {exc.strerror}", source=source) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        raise SpecError(f"invalid YAML: {exc.problem}", source=source,
                        line=mark.line + 1 if mark else None,
                        column=mark.column + 1 if mark else None) from None
    if not isinstance(data, dict):
        raise SpecError("a spec must be a mapping with at least an 'agent' key", source=source)
    lines = _key_lines(node)
    base_dir = path.resolve().parent

    def fail(message: str, key: str) -> SpecError:
        return SpecError(message, source=source, key=key, line=lines.get(key))

    _check_keys(data, TOP_LEVEL_KEYS, "", fail)
    if "agent" not in data:
        raise fail("missing required key 'agent' (a dotted path like 'pkg.module:Agent')", "agent")
    execution = _execution(data.get("execution") or {}, fail)
    search_paths = (str(base_dir), str(Path.cwd()))
    agent = AgentRef(target=data["agent"],
                     init=(data["init"] or {}) if "init" in data else None,
                     call=data.get("call"), context=data.get("context") or {},
                     search_paths=search_paths, source=source, version=data.get("version"),
                     context_param=data.get("context_param"), usage=data.get("usage"))
    _check_importable(agent, lines)
    pricing = _pricing(data, fail)
    _check_repeat(data, "repeat", fail)
    inputs = _inputs(data.get("inputs"), base_dir, search_paths, fail, source,
                     repeat=data.get("repeat", 1))
    max_error_rate = data.get("max_error_rate")
    if max_error_rate is not None and not 0 <= max_error_rate <= 1:
        raise fail("must be a fraction between 0 and 1", "max_error_rate")
    output = data.get("output")
    fingerprint = check_fingerprint_entries(data.get("fingerprint"), base_dir, search_paths, fail)
    return WorkloadSpec(
        name=data.get("name") or path.stem, agent=agent, inputs=inputs, execution=execution,
        cache=(data.get("cache") or {}) if "cache" in data else None,
        thresholds=data.get("thresholds") or {}, health=data.get("health") or {},
        max_error_rate=max_error_rate,
        output=(base_dir / output) if output else None, source=source, base_dir=base_dir,
        lines=lines, fingerprint=fingerprint, pricing=pricing,
    )


def _pricing(data: Mapping[str, Any], fail: Any) -> Any:
    if data.get("pricing") is None:
        return None
    from agentperf.usage.pricing import Pricing

    return Pricing.from_spec(data["pricing"], fail)


def _check_importable(agent: AgentRef, lines: Mapping[str, int]) -> None:
    """Import the agent's dotted path now, so a typo is a usage error before anything runs."""
    try:
        resolve(agent.target, search_paths=agent.search_paths)
    except SpecError as exc:
        raise SpecError(str(exc), source=agent.source, key="agent",
                        line=lines.get("agent")) from None
    if agent.usage is None:
        return
    try:
        extractor = resolve(agent.usage, search_paths=agent.search_paths)
    except SpecError as exc:
        raise SpecError(str(exc), source=agent.source, key="usage",
                        line=lines.get("usage")) from None
    if not callable(extractor):
        raise SpecError(f"'{agent.usage}' is not a function (expected one that takes the "
                        "agent's result and returns its usage)", source=agent.source,
                        key="usage", line=lines.get("usage"))


def _execution(data: dict[str, Any], fail: Any) -> ExecutionSettings:
    _check_keys(data, EXECUTION_KEYS, "execution", fail)
    kwargs, unparsed = load_fields(data)
    for key, problem in unparsed:
        raise fail(problem, f"execution.{key}")
    settings = ExecutionSettings(**kwargs)
    for key, problem in settings.problems():
        raise fail(problem, f"execution.{key}")
    return settings


def _check_repeat(data: Mapping[str, Any], key: str, fail: Any) -> None:
    if key in data and data[key] < 1:
        raise fail("must be at least 1", key)


def _inputs(raw: Any, base_dir: Path, search_paths: tuple[str, ...], fail: Any, source: str,
            repeat: int = 1) -> InputSource:
    if raw is None:
        return InputSource(kind="none", repeat=repeat)
    if isinstance(raw, list):
        return InputSource(kind="inline", items=tuple(raw), repeat=repeat)
    if isinstance(raw, str):
        raw = {"file": raw}
    if not isinstance(raw, dict):
        raise fail("expected a list, a file path, or a mapping with 'file' or 'generator'",
                   "inputs")
    _check_keys(raw, INPUT_KEYS, "inputs", fail)
    _check_repeat(raw, "repeat", lambda message, key: fail(message, f"inputs.{key}"))
    repeat = raw.get("repeat", repeat)
    if "file" in raw:
        file_path = (base_dir / raw["file"]).resolve()
        if not file_path.is_file():
            raise fail(f"input file not found: {file_path}", "inputs.file")
        src = from_file(file_path, raw.get("format"), source=source)
        return replace(src, repeat=repeat)
    if "generator" in raw:
        try:
            resolve(raw["generator"], search_paths=search_paths)
        except SpecError as exc:
            raise fail(str(exc), "inputs.generator") from None
        return InputSource(kind="generator", generator=raw["generator"],
                           generator_args=raw.get("args") or {}, search_paths=search_paths,
                           repeat=repeat)
    raise fail("needs 'file' or 'generator'", "inputs")


def _check_keys(data: Mapping[str, Any], schema: Mapping[str, Any], prefix: str, fail: Any) -> None:
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if key not in schema:
            hint = did_you_mean(str(key), list(schema))
            raise fail(f"unknown key{hint}; expected one of {', '.join(sorted(schema))}", path)
        expected = schema[key]
        if value is None:
            if path in NULLABLE_KEYS:
                continue
            raise fail("must not be null (leave the key out for the default)", path)
        if expected is object:
            continue
        types = expected if isinstance(expected, tuple) else (expected,)
        if isinstance(value, bool) and bool not in types:
            raise fail(f"expected {_type_names(types)}, got a boolean", path)
        if not isinstance(value, types):
            raise fail(f"expected {_type_names(types)}, got {type(value).__name__}", path)


def _type_names(types: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", dict: "a mapping",
             list: "a list", bool: "a boolean"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _key_lines(node: yaml.Node | None, prefix: str = "") -> dict[str, int]:
    """Map dotted key paths to 1-based YAML line numbers."""
    import yaml

    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            path = f"{prefix}.{key_node.value}" if prefix else str(key_node.value)
            lines[path] = key_node.start_mark.line + 1
            lines.update(_key_lines(value_node, path))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            path = f"{prefix}[{i}]"
            lines[path] = item.start_mark.line + 1
            lines.update(_key_lines(item, path))
    return lines

