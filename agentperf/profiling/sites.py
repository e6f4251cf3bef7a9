"""Allocation sites: what a call allocated and still held at its peak, by line or traceback.

The user's code comes first; ``only_user_code`` charges library sites to the user's
line that called into the library.
"""

from __future__ import annotations

import tracemalloc
from collections.abc import Iterable, Sequence

from agentperf.profiling.grouping import Frames, group, traceback_of
from agentperf.profiling.result import AllocationSite
from agentperf.profiling.sites_filter import format_traceback, innermost, is_user_code

GROUP_BY = ("lineno", "traceback")
LIBRARY_ROW = "<library code>"


def top_sites(peak: tracemalloc.Snapshot, before: tracemalloc.Snapshot, *, group_by: str,
              top: int, only_user_code: bool) -> list[AllocationSite]:
    """The ``top`` sites by memory allocated during the call and alive at its peak.

    Chosen by size, then listed with the user's code ahead of library code.
    """
    # Folding needs each allocation's whole traceback, whatever the display grouping.
    key = "traceback" if only_user_code else group_by
    after, base = group(peak, key), group(before, key)
    grown = sorted(_growth(after, base), key=lambda item: item[1], reverse=True)
    if not only_user_code:
        grown = grown[:top]
    sites = [_site(traceback_of(frames), size, count) for frames, size, count in grown]
    if only_user_code:
        sites = sorted(fold_library_sites(sites), key=lambda s: s.size_bytes, reverse=True)[:top]
    return sorted(sites, key=lambda s: (not s.user_code, -s.size_bytes))


def _growth(after: dict[Frames, list[int]], base: dict[Frames, list[int]]
            ) -> list[tuple[Frames, int, int]]:
    out = []
    for frames, (size, count) in after.items():
        old_size, old_count = base.get(frames, (0, 0))
        if size > old_size:
            out.append((frames, size - old_size, max(count - old_count, 0)))
    return out


def _site(tb: tracemalloc.Traceback, size: int, count: int) -> AllocationSite:
    frame = innermost(tb)
    return AllocationSite(
        location=f"{frame.filename}:{frame.lineno}", filename=frame.filename,
        lineno=frame.lineno, size_bytes=size, count=count,
        average_bytes=size / count if count else float(size),
        user_code=is_user_code(frame.filename), traceback=format_traceback(tb))


def fold_library_sites(sites: Iterable[AllocationSite]) -> list[AllocationSite]:
    """Charge each library site to the innermost user frame of its traceback.

    Without a user frame (one-frame tracebacks) library sites fold into one row.
    """
    folded: dict[str, AllocationSite] = {}
    for site in sites:
        key, filename, lineno = site.location, site.filename, site.lineno
        if not site.user_code:
            frame = _innermost_user_frame(site.traceback)
            key, filename, lineno = frame if frame else (LIBRARY_ROW, LIBRARY_ROW, 0)
        into = folded.get(key)
        if into is None:
            folded[key] = AllocationSite(
                location=key, filename=filename, lineno=lineno, size_bytes=site.size_bytes,
                count=site.count, average_bytes=site.average_bytes,
                user_code=key != LIBRARY_ROW, traceback=_cut_at(site.traceback, key),
                folded_sites=0 if site.user_code else 1)
            continue
        into.size_bytes += site.size_bytes
        into.count += site.count
        into.average_bytes = into.size_bytes / into.count if into.count else into.size_bytes
        into.folded_sites += 0 if site.user_code else 1
    return list(folded.values())


def _innermost_user_frame(frames: Sequence[str]) -> tuple[str, str, int] | None:
    for location in reversed(frames):
        filename, _, lineno = location.rpartition(":")
        if is_user_code(filename):
            return location, filename, int(lineno)
    return None


def _cut_at(frames: list[str], location: str) -> list[str]:
    return frames[: frames.index(location) + 1] if location in frames else list(frames)
