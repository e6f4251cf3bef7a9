"""A process and its descendants sampled as one unit, as htop's tree view adds them.

CPU is the sum of per-process CPU-time rates, children added in; a child that exits
between two readings takes only its last interval with it. Each process's counters are
timed at their own read, so a sampler thread kept waiting for the GIL by a busy main
thread still reports true rates.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

import psutil


@dataclass(frozen=True, slots=True)
class ProcessSample:
    """One reading of a process and, when asked, all its descendants."""

    pid: int
    processes: int
    cpu_percent: float  # percent of one core: 200 means two cores busy
    rss_bytes: int
    threads: int
    open_files: int  # file descriptors on POSIX, handles on Windows
    ctx_switches_per_s: float
    read_bytes_per_s: float | None
    write_bytes_per_s: float | None


_ProcKey = tuple[int, float]  # (pid, create_time): a reused pid is a different process


@dataclass
class _ProcState:
    t: float  # monotonic time of the reading
    cpu_s: float
    ctx: int
    read_bytes: int | None
    write_bytes: int | None


class ProcessTree:
    """Samples one process and (optionally) its descendants as one unit.

    Raises :class:`psutil.NoSuchProcess` from :meth:`read` once the root is gone.
    """

    def __init__(self, pid: int, include_children: bool = True) -> None:
        self.pid = pid
        self.include_children = include_children
        self._root = psutil.Process(pid)
        self._procs: dict[_ProcKey, psutil.Process] = {}
        self._state: dict[_ProcKey, _ProcState] = {}
        self._last_wall = time.time()
        self._last_mono = time.monotonic()
        self.ctx_switches_total = 0  # since the baseline, children included
        self.read()
        self.ctx_switches_total = 0

    def _members(self) -> list[psutil.Process]:
        members = [self._root]
        if not self.include_children:
            return members
        pids = _descendant_pids(self.pid)
        if pids is None:
            try:
                members.extend(self._root.children(recursive=True))
            except psutil.NoSuchProcess:
                raise
            except psutil.Error:
                pass
            return members
        known = {key[0]: proc for key, proc in self._procs.items()}
        for pid in pids:
            proc = known.get(pid)
            if proc is None:
                try:
                    proc = psutil.Process(pid)
                except psutil.Error:
                    continue
            members.append(proc)
        return members

    def descendants_rss(self) -> int:
        """The RSS of the root's descendants alone (the root's own is read cheaper
        elsewhere); a child that exits between listing and reading adds nothing."""
        total = 0
        for proc in self._members()[1:]:
            try:
                total += int(proc.memory_info().rss)
            except psutil.Error:
                continue
        return total

    def alive(self) -> bool:
        """Whether the root still runs (a zombie waiting for its parent does not)."""
        try:
            return self._root.is_running() and self._root.status() != psutil.STATUS_ZOMBIE
        except psutil.Error:
            return False

    def read(self) -> ProcessSample:
        """Read the tree; rates are over the time since each process's previous read."""
        if not self._root.is_running():
            raise psutil.NoSuchProcess(self.pid)
        state: dict[_ProcKey, _ProcState] = {}
        procs: dict[_ProcKey, psutil.Process] = {}
        totals = _TreeTotals()
        for proc in self._members():
            try:
                key = (proc.pid, proc.create_time())
                proc = self._procs.get(key, proc)
                with proc.oneshot():
                    # The kernel hands the counters over at the read, before any wait for
                    # the GIL, so the clock is read just before it.
                    t = time.monotonic()
                    cpu = proc.cpu_times()
                    ctx = proc.num_ctx_switches()
                    current = _ProcState(t, cpu.user + cpu.system,
                                         ctx.voluntary + ctx.involuntary, *_io(proc))
                    totals.rss += proc.memory_info().rss
                    totals.threads += proc.num_threads()
                    totals.files += _open_files(proc)
            except psutil.NoSuchProcess:
                if proc.pid == self.pid:
                    raise
                continue
            except psutil.AccessDenied:
                continue
            state[key], procs[key] = current, proc
            totals.add(current, self._state.get(key) or self._baseline(key[1], current))
        self._state, self._procs = state, procs
        self.ctx_switches_total += totals.ctx_count
        self._last_mono = time.monotonic()
        self._last_wall = time.time()
        return ProcessSample(
            pid=self.pid, processes=len(state), cpu_percent=round(100.0 * totals.cpu, 2),
            rss_bytes=totals.rss, threads=totals.threads, open_files=totals.files,
            ctx_switches_per_s=totals.ctx, read_bytes_per_s=totals.read,
            write_bytes_per_s=totals.write,
        )

    def _baseline(self, create_time: float, current: _ProcState) -> _ProcState:
        """What a process newly seen in the tree is charged from.

        Born since the last reading: everything it did counts. Older (re-parented, or
        unreadable last time): nothing is known about this interval, so it counts zero.
        """
        if create_time >= self._last_wall - 0.01:
            return _ProcState(self._last_mono, 0.0, 0,
                              0 if current.read_bytes is not None else None,
                              0 if current.write_bytes is not None else None)
        return current


@dataclass
class _TreeTotals:
    """Per-process rates summed over the tree (CPU in cores, the rest per second)."""

    cpu: float = 0.0
    ctx: float = 0.0
    ctx_count: int = 0
    read: float | None = None
    write: float | None = None
    rss: int = 0
    threads: int = 0
    files: int = 0

    def add(self, now: _ProcState, before: _ProcState) -> None:
        dt = now.t - before.t
        if dt <= 0:
            return
        self.cpu += max(now.cpu_s - before.cpu_s, 0.0) / dt
        self.ctx_count += max(now.ctx - before.ctx, 0)
        self.ctx += max(now.ctx - before.ctx, 0) / dt
        if now.read_bytes is not None and before.read_bytes is not None:
            self.read = (self.read or 0.0) + max(now.read_bytes - before.read_bytes, 0) / dt
        if now.write_bytes is not None and before.write_bytes is not None:
            self.write = (self.write or 0.0) + max(now.write_bytes - before.write_bytes, 0) / dt


def _descendant_pids(pid: int) -> list[int] | None:
    """Descendants from Linux's ``/proc/PID/task/TID/children`` (None where unsupported).

    psutil's ``children()`` reads the stat file of every process on the machine; on a
    busy host that is hundreds of reads per sample, each one a GIL hand-off that a
    CPU-bound main thread makes slow. This reads one small file per thread of the tree.
    """
    found: list[int] = []
    stack = [pid]
    while stack:
        parent = stack.pop()
        try:
            tids = os.listdir(f"/proc/{parent}/task")
        except FileNotFoundError:
            if parent == pid:
                return None if not os.path.isdir("/proc") else []
            continue
        except OSError:
            return None
        for tid in tids:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as fh:
                    children = [int(c) for c in fh.read().split()]
            except FileNotFoundError:
                if parent == pid and not os.path.exists(f"/proc/{parent}/task/{tid}"):
                    continue
                if not os.path.exists(f"/proc/{parent}/task/{tid}/children"):
                    return None  # kernel built without CONFIG_PROC_CHILDREN
                continue
            except OSError:
                continue
            found.extend(children)
            stack.extend(children)
    return found


def _io(proc: psutil.Process) -> tuple[int | None, int | None]:
    try:
        io = proc.io_counters()
    except (psutil.AccessDenied, AttributeError, NotImplementedError):
        return None, None
    return io.read_bytes, io.write_bytes


def _open_files(proc: psutil.Process) -> int:
    try:
        return proc.num_fds() if hasattr(proc, "num_fds") else proc.num_handles()
    except psutil.AccessDenied:
        return 0
