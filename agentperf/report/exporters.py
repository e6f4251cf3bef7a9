"""Report files: checked before the run, written atomically from one result after it.

hyperfine's pattern: one small :class:`Exporter` per format ("render this result to
text") and a manager built from the command-line options that checks every report path
*before* the run, so a bad path fails in a second with exit code 2 instead of after an
hour of agent calls. Unlike hyperfine nothing is created by the check: a report file is
complete or absent. A run that ends on a usage error writes none, and each file is
written to a temporary sibling and renamed into place, so a killed process never leaves
a half file. When ``$GITHUB_STEP_SUMMARY`` is set the Markdown report is appended to it
as well, so the job summary shows the verdict without any setup.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agentperf.errors import AgentperfError
from agentperf.outputs import check_output_path, write_atomic

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


@dataclass(frozen=True)
class Exporter:
    """One report format: the option that asks for it and how a result becomes text.

    The renderer is named, not imported: a run that writes no HTML report does not pay
    for importing the HTML renderer (every run-batch opens this manager)."""

    format: str
    option: str
    renderer: str  # "module:function"

    def render(self, document: Any) -> str:
        module, name = self.renderer.split(":")
        return str(getattr(importlib.import_module(module), name)(document))


EXPORTERS: dict[str, Exporter] = {
    "json": Exporter("json", "--report-json", "agentperf.report.json_report:render_json"),
    "markdown": Exporter("markdown", "--report-md", "agentperf.report.markdown:render_markdown"),
    "junit": Exporter("junit", "--junit-xml", "agentperf.report.junit:render_junit"),
    "html": Exporter("html", "--report-html", "agentperf.report.html:render_html"),
}


@dataclass(frozen=True)
class ReportOptions:
    """Where each report goes (None: not written); ``step_summary`` honours the env var."""

    json: Path | None = None
    markdown: Path | None = None
    junit: Path | None = None
    html: Path | None = None
    step_summary: bool = True


@dataclass(frozen=True)
class _Target:
    exporter: Exporter
    path: Path


@dataclass
class ReportManager:
    """Checked report paths; :meth:`write` renders the result into every one of them.

    ``warnings`` collects problems that must not change the run's exit code (an
    unwritable ``$GITHUB_STEP_SUMMARY``); the CLI prints them.
    """

    targets: list[_Target] = field(default_factory=list)
    step_summary: Path | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, options: ReportOptions, *, environ: Mapping[str, str] | None = None
             ) -> ReportManager:
        manager = cls()
        seen: dict[Path, str] = {}
        for name, exporter in EXPORTERS.items():
            path = getattr(options, name)
            if path is None:
                continue
            path = Path(path)
            resolved = path.resolve()
            if resolved in seen:
                raise AgentperfError(f"{exporter.option} {path}: the same file is already "
                                     f"used by {seen[resolved]}")
            seen[resolved] = exporter.option
            check_output_path(exporter.option, path)
            manager.targets.append(_Target(exporter, path))
        env = os.environ if environ is None else environ
        if options.step_summary and env.get(STEP_SUMMARY_ENV):
            manager.step_summary = Path(env[STEP_SUMMARY_ENV])
            manager._check_step_summary()
        return manager

    def _check_step_summary(self) -> None:
        assert self.step_summary is not None
        try:
            with self.step_summary.open("a", encoding="utf-8"):
                pass
        except OSError as exc:
            self.warnings.append(f"${STEP_SUMMARY_ENV} {self.step_summary}: cannot append "
                                 f"({exc.strerror}); the job summary will lack the report")
            self.step_summary = None

    @property
    def paths(self) -> list[Path]:
        return [t.path for t in self.targets]

    def write(self, result: Any) -> list[Path]:
        """Render ``result`` into every report (and the step summary); returns what was written.

        Each file appears whole or not at all. A report that cannot be written becomes a
        warning: the run's verdict stands.
        """
        from agentperf.report.json_report import batch_document

        written: list[Path] = []
        if not self.targets and self.step_summary is None:
            return written
        doc = batch_document(result)  # built and redacted once, rendered by every format
        for target in self.targets:
            try:
                write_atomic(target.path, target.exporter.render(doc))
                written.append(target.path)
            except OSError as exc:
                self.warnings.append(f"{target.exporter.option} {target.path}: "
                                     f"write failed ({exc.strerror})")
        if self.step_summary is not None:
            try:
                with self.step_summary.open("a", encoding="utf-8") as handle:
                    handle.write(EXPORTERS["markdown"].render(doc) + "\n")
                written.append(self.step_summary)
            except OSError as exc:
                self.warnings.append(f"${STEP_SUMMARY_ENV} {self.step_summary}: "
                                     f"append failed ({exc.strerror})")
        return written

    def __enter__(self) -> ReportManager:
        return self

    def __exit__(self, *exc: object) -> None:
        """Nothing to release: no file is open or created before :meth:`write`."""


def open_exporters(json: Path | None = None, markdown: Path | None = None,
                   junit: Path | None = None, html: Path | None = None, *,
                   step_summary: bool = True, environ: Mapping[str, str] | None = None
                   ) -> ReportManager:
    """The manager for run-batch's report options; raises exit-2 errors on a bad path."""
    return ReportManager.open(ReportOptions(json=json, markdown=markdown, junit=junit, html=html,
                                            step_summary=step_summary), environ=environ)
