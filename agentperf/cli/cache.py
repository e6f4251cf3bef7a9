"""``agentperf cache stats`` and ``agentperf cache clear``: the persistent tiers.

The memory tier lives and dies with a process, so these commands look at the disk
directory and the Redis prefix only. SPEC, when given, supplies the ``cache:`` section;
``--cache-dir`` and ``--redis-url`` override it as they do for run-batch.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer

from agentperf.cli.common import (
    DEBUG_OPTION,
    JSON_OPTION,
    METAVAR_SPEC,
    METAVAR_URL,
    PANEL_CACHE,
    handle_errors,
    stdout_console,
)
from agentperf.cli.help import AgentperfCommand, AgentperfGroup
from agentperf.errors import AgentperfError

cache_app = typer.Typer(help="Inspect or empty the persistent cache (disk directory, Redis).",
                        no_args_is_help=True, cls=AgentperfGroup)

SPEC_ARGUMENT = typer.Argument(None, metavar=METAVAR_SPEC,
                               help="A YAML spec whose cache: section to use.")
CACHE_DIR_OPTION = typer.Option(None, "--cache-dir", rich_help_panel=PANEL_CACHE,
                                help="Disk cache directory.")
REDIS_URL_OPTION = typer.Option(None, "--redis-url", metavar=METAVAR_URL,
                                rich_help_panel=PANEL_CACHE,
                                help="Redis URL of a shared cache tier.")


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")


@dataclass
class TierReport:
    name: str
    location: str
    entries: int | None = None
    bytes: int | None = None
    expired: int | None = None
    removed: int | None = None
    error: str | None = None


@cache_app.command("stats", cls=AgentperfCommand)
@handle_errors
def stats_command(spec: str | None = SPEC_ARGUMENT, cache_dir: Path | None = CACHE_DIR_OPTION,
                  redis_url: str | None = REDIS_URL_OPTION, json_out: bool = JSON_OPTION,
                  debug: bool = DEBUG_OPTION) -> None:
    """Entries and bytes held by the disk and Redis tiers."""
    reports = [_usage(tier) for tier in _persistent_tiers(spec, cache_dir, redis_url)]
    _render(reports, json_out, title="cache")
    _fail_on_errors(reports)


@cache_app.command("clear", cls=AgentperfCommand)
@handle_errors
def clear_command(spec: str | None = SPEC_ARGUMENT, cache_dir: Path | None = CACHE_DIR_OPTION,
                  redis_url: str | None = REDIS_URL_OPTION,
                  expired: bool = typer.Option(False, "--expired", rich_help_panel=PANEL_CACHE,
                                               help="Remove only expired disk entries."),
                  json_out: bool = JSON_OPTION, debug: bool = DEBUG_OPTION) -> None:
    """Remove every entry from the disk and Redis tiers (or only expired ones)."""
    reports = [_clear(tier, expired) for tier in _persistent_tiers(spec, cache_dir, redis_url)]
    _render(reports, json_out, title="cleared")
    _fail_on_errors(reports)


def _persistent_tiers(spec: str | None, cache_dir: Path | None, redis_url: str | None
                      ) -> list[Any]:
    from agentperf.cache.config import CacheConfig
    from agentperf.cache.factory import build_tiers

    overrides = {"dir": str(cache_dir) if cache_dir else None, "redis_url": redis_url}
    if spec:
        from agentperf.workload.spec import load_workload

        workload = load_workload(spec)
        config = CacheConfig.from_mapping(workload.cache, error=workload.error,
                                          overrides=overrides)
    else:
        config = CacheConfig.from_mapping({}, error=_option_error, overrides=overrides)
    tiers = [t for t in build_tiers(config) if t.name != "memory"]
    if "disk" not in config.tiers and cache_dir:
        from agentperf.cache.disk import DiskTier

        tiers.insert(0, DiskTier(config.dir))
    return tiers


def _option_error(message: str, key_path: str) -> AgentperfError:
    return AgentperfError(f"--{key_path.removeprefix('cache.').replace('_', '-')}: {message}")


def _usage(tier: Any) -> TierReport:
    from agentperf.cache.tiers import TierError

    report = TierReport(tier.name, tier.describe())
    try:
        usage = tier.usage()
    except TierError as exc:
        report.error = str(exc)
    else:
        report.entries, report.bytes, report.expired = usage.entries, usage.bytes, usage.expired
    finally:
        tier.close()
    return report


def _clear(tier: Any, expired_only: bool) -> TierReport:
    from agentperf.cache.tiers import TierError

    report = TierReport(tier.name, tier.describe())
    try:
        report.removed = tier.clear(expired_only=expired_only)
    except TierError as exc:
        report.error = str(exc)
    finally:
        tier.close()
    return report


def _render(reports: list[TierReport], json_out: bool, *, title: str) -> None:
    console = stdout_console()
    if json_out:
        console.print_json(json.dumps({"tiers": [asdict(r) for r in reports]}))
        return
    from rich.table import Table

    clearing = title == "cleared"
    table = Table(title=title, title_justify="left")
    for column in ("tier", "location", *(("removed",) if clearing else
                                          ("entries", "bytes", "expired"))):
        table.add_column(column, justify="left" if column in ("tier", "location") else "right")
    for r in reports:
        values = [r.removed] if clearing else [r.entries, _size(r.bytes), r.expired]
        cells = [str(v) if v is not None else "-" for v in values]
        if r.error:
            cells = ["[red]unavailable[/]", *[""] * (len(cells) - 1)]
        table.add_row(r.name, r.location, *cells)
    console.print(table)


def _size(value: int | None) -> str | None:
    if value is None:
        return None
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return None


def _fail_on_errors(reports: list[TierReport]) -> None:
    errors = [r.error for r in reports if r.error]
    if errors:
        raise AgentperfError("; ".join(errors))
