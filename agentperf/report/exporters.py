"""Report files: opened before the run, written from one result object after it.

hyperfine's pattern: one small :class:`Exporter` per format ("render this result to
text") and a manager built from the command-line options that creates every report
file *before* the run, so a bad path fails in a second with exit code 2 instead of
after an hour of agent calls. When ``$GITHUB_STEP_SUMMARY`` is set the Markdown report
is appended to it as well, so the job summary shows the verdict without any setup.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agentperf.errors import AgentperfError, ExitCode
from agentperf.report.html import render_html
from agentperf.report.json_report import batch_document, render_json
from agentperf.report.junit import render_junit
from agentperf.report.markdown import render_markdown

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"


@dataclass(frozen=True)
class Exporter:
    """One report format: the option that asks for it and how a result becomes text."""

    format: str
    option: str
    render: Callable[[Any], str]


EXPORTERS: dict[str, Exporter] = {
    "json": Exporter("json", "--report-json", render_json),
    "markdown": Exporter("markdown", "--report-md", render_markdown),
    "junit": Exporter("junit", "--junit-xml", render_junit),
    "html": Exporter("html", "--report-html", render_html),
}


@dataclass(frozen=True)
class ReportOptions:
    """Where each report goes (None: not written); ``step_summary`` honours the env var."""

    json: Path | None = None
    markdown: Path | None = None
    junit: Path | None = None
    html: Path | None = None
    step_summary: bool = True


@dataclass
class _Target:
    exporter: Exporter
    path: Path
    handle: IO[str]


@dataclass
class ReportManager:
    """Open report files; :meth:`write` renders the result into every one of them.

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
        try:
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
                manager.targets.append(_Target(exporter, path, _open(exporter.option, path)))
        except BaseException:
            manager.close()
            raise
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

        A report that cannot be written becomes a warning: the run's verdict stands.
        """
        written: list[Path] = []
        doc = batch_document(result)  # built and redacted once, rendered by every format
        for target in self.targets:
            try:
                text = target.exporter.render(doc)
                target.handle.seek(0)
                target.handle.truncate()
                target.handle.write(text)
                target.handle.flush()
                written.append(target.path)
            except OSError as exc:
                self.warnings.append(f"{target.exporter.option} {target.path}: "
                                     f"write failed ({exc.strerror})")
        if self.step_summary is not None:
            try:
                with self.step_summary.open("a", encoding="utf-8") as handle:
                    handle.write(render_markdown(doc) + "\n")
                written.append(self.step_summary)
            except OSError as exc:
                self.warnings.append(f"${STEP_SUMMARY_ENV} {self.step_summary}: "
                                     f"append failed ({exc.strerror})")
        self.close()
        return written

    def close(self) -> None:
        for target in self.targets:
            if not target.handle.closed:
                target.handle.close()

    def __enter__(self) -> ReportManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open(option: str, path: Path) -> IO[str]:
    """Create (truncate) the report file now; missing parent directories are made, as
    pytest's ``--junitxml`` does, so ``--report-json reports/run.json`` works in CI."""
    try:
        if path.is_dir():
            raise AgentperfError(f"{option} {path}: is a directory; give a file name")
        for parent in (path.parent, *path.parent.parents):
            if parent.exists() and not parent.is_dir():
                raise AgentperfError(f"{option} {path}: {parent} is not a directory")
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise AgentperfError(f"{option} {path}: cannot write ({exc.strerror})",
                             exit_code=ExitCode.USAGE) from None


def open_exporters(json: Path | None = None, markdown: Path | None = None,
                   junit: Path | None = None, html: Path | None = None, *,
                   step_summary: bool = True, environ: Mapping[str, str] | None = None
                   ) -> ReportManager:
    """The manager for run-batch's report options; raises exit-2 errors on a bad path."""
    return ReportManager.open(ReportOptions(json=json, markdown=markdown, junit=junit, html=html,
                                            step_summary=step_summary), environ=environ)
