"""Progress of a running batch: a Rich bar on a terminal, a plain line every few seconds in CI."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # a quiet run's NullProgressView needs no Rich
    from rich.console import Console

PLAIN_EVERY_S = 5.0


class ProgressView(Protocol):
    def update(self, progress: Any) -> None: ...

    def close(self) -> None: ...


class RichProgressView:
    """done / total, rate, errors and ETA, redrawn in place."""

    def __init__(self, console: Console, name: str) -> None:
        # Imported here: a quiet or CI run never draws a bar and skips rich.progress.
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:>8.1f}/s"),
            TextColumn("[red]{task.fields[errors]} errors"),
            TextColumn("{task.fields[hits]} cached"),
            TextColumn("{task.fields[left]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
        )
        self._task = self._bar.add_task(name, total=None, rate=0.0, errors=0, hits=0, left="")
        self._bar.start()

    def update(self, progress: Any) -> None:
        self._bar.update(self._task, total=progress.total, completed=progress.done,
                         rate=progress.rate, errors=progress.failed, hits=progress.cache_hits,
                         left=_time_left(progress))

    def close(self) -> None:
        self._bar.stop()


class PlainProgressView:
    """One line every few seconds, for CI logs where a redrawn bar is noise."""

    def __init__(self, console: Console, name: str, every_s: float = PLAIN_EVERY_S) -> None:
        self._console = console
        self._name = name
        self._every_s = every_s
        self._last: float | None = None

    def update(self, progress: Any) -> None:
        """Print the first update, then one every ``every_s``, and the last one."""
        now = time.monotonic()
        finished = progress.total is not None and progress.done >= progress.total
        if self._last is not None and now - self._last < self._every_s and not finished:
            return
        self._last = now
        self._console.print(self.line(progress), highlight=False, soft_wrap=True)

    def line(self, progress: Any) -> str:
        total = progress.total
        done = f"{progress.done}/{total}" if total else str(progress.done)
        eta = f" {_time_left(progress)}" if _time_left(progress) else ""
        if total and progress.rate > 0 and not eta:
            eta = f" eta {max(total - progress.done, 0) / progress.rate:.0f}s"
        return (f"[{self._name}] {done} done, {progress.rate:.1f}/s, {progress.failed} errors, "
                f"{progress.cache_hits} cached, {progress.elapsed_s:.0f}s elapsed{eta}")

    def close(self) -> None:
        pass


def _time_left(progress: Any) -> str:
    """``12s left`` in a run bounded by ``execution.duration``; empty otherwise."""
    left = getattr(progress, "time_left_s", None)
    return "" if left is None else f"{left:.0f}s left"


class NullProgressView:
    def update(self, progress: Any) -> None:
        pass

    def close(self) -> None:
        pass


def progress_view(console: Console, name: str, *, quiet: bool) -> ProgressView:
    """The view for this console; the total comes with each progress snapshot."""
    if quiet:
        return NullProgressView()
    if console.is_terminal:
        return RichProgressView(console, name)
    return PlainProgressView(console, name)
