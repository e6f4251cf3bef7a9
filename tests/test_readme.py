"""The README stays a page, its links and Quick start hold, and the spec reference's
complete example (docs/spec.md) is a spec agentperf accepts, key for key."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from agentperf.analysis.health import limits_from_mapping
from agentperf.analysis.thresholds import RUN_BATCH_METRICS, parse_thresholds
from agentperf.cache.config import CacheConfig
from agentperf.workload.spec import load_workload

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
SPEC_PAGE = ROOT / "docs" / "spec.md"


def complete_spec_example() -> str:
    text = SPEC_PAGE.read_text(encoding="utf-8")
    section = text.split("## The spec, complete", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert match, "docs/spec.md lost its complete spec example"
    return match.group(1)


def test_the_complete_spec_example_validates(tmp_path: Path) -> None:
    (tmp_path / "my_agents.py").write_text(
        "class Summarizer:\n"
        "    def __init__(self, model, max_words):\n"
        "        self.model = model\n"
        "    def execute(self, input_data, context):\n"
        "        return input_data\n"
    )
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
    assert (
        len(parse_thresholds(spec.thresholds, [], metrics=RUN_BATCH_METRICS, error=spec.error)) == 5
    )
    assert limits_from_mapping(spec.health, spec.error).slow_latency_s == 10


def test_ci_runs_the_quick_start_test_command_verbatim() -> None:
    quick_start = README.read_text(encoding="utf-8").split("## Quick start", 1)[1]
    blocks = re.findall(r"```bash\n(.*?)```", quick_start, re.S)
    install_and_run, install_and_test = blocks[0].strip(), blocks[1].strip()
    assert "agentperf run-batch sample_workloads/quickstart.yaml" in install_and_run
    ci_script = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert install_and_test in ci_script.splitlines()


def test_the_readme_is_a_page_and_its_links_resolve() -> None:
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 250, "the reference belongs in docs/, not the README"
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if "://" not in link]
    assert len(local) >= 15
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
    for command in ("run-batch", "bench", "profile", "monitor"):
        assert f"docs/{command}.md" in local
    for page, anchor in re.findall(r"\]\((docs/[\w-]+\.md)#([^)]+)\)", text):
        assert anchor in _heading_slugs(ROOT / page), f"README: {page}#{anchor} has no heading"


def _heading_slugs(page: Path) -> set[str]:
    """Heading anchors as MkDocs makes them (Python-Markdown's toc slugify)."""
    slugs = set()
    fenced = False
    for line in page.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            title = unicodedata.normalize("NFKD", line.lstrip("#").strip())
            title = re.sub(r"[^\w\s-]", "", title.encode("ascii", "ignore").decode()).strip()
            slugs.add(re.sub(r"[-\s]+", "-", title.lower()))
    return slugs
