"""The README's complete spec example is a spec agentperf accepts, key for key."""

from __future__ import annotations

import re
from pathlib import Path

from agentperf.analysis.health import limits_from_mapping
from agentperf.analysis.thresholds import RUN_BATCH_METRICS, parse_thresholds
from agentperf.cache.config import CacheConfig
from agentperf.workload.spec import load_workload

README = Path(__file__).resolve().parents[1] / "README.md"


def complete_spec_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### The spec, complete", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "the README lost its complete spec example"
    return match.group(1)


def test_the_complete_spec_example_validates(tmp_path: Path) -> None:
    (tmp_path / "my_agents.py").write_text(
        "class Summarizer:\n"
        "    def __init__(self, model, max_words):\n"
        "        self.model = model\n"
        "    def execute(self, input_data, context):\n"
        "        return input_data\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "documents.jsonl").write_text('{"text": "a"}\n')
    spec_path = tmp_path / "workload.yaml"
    spec_path.write_text(complete_spec_example())
    spec = load_workload(str(spec_path))
    assert spec.execution.mode == "auto" and spec.execution.retries == 2
    assert list(spec.inputs) == [{"text": "a"}]
    assert spec.build_agent().call({"text": "a"}) == {"text": "a"}
    config = CacheConfig.from_mapping(spec.cache, error=spec.error)
    assert config.enabled and config.ttl_s == 3600
    assert len(parse_thresholds(spec.thresholds, [], metrics=RUN_BATCH_METRICS,
                                error=spec.error)) == 5
    assert limits_from_mapping(spec.health, spec.error).slow_latency_s == 10


def test_ci_runs_the_quick_start_test_command_verbatim() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    install_and_run, install_and_test = blocks[0].strip(), blocks[1].strip()
    assert "agentperf run-batch sample_workloads/quickstart.yaml" in install_and_run
    ci_script = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert install_and_test in ci_script.splitlines()
