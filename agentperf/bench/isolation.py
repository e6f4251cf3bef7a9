"""``--processes K``: samples taken in K fresh interpreters, one block after another.

Each worker rebuilds the agents from their recipes (a live agent is never pickled),
so import-time state, allocator history and hash seeds differ between workers and
the spread of the samples shows it, as pyperf's worker processes do. One worker
hosts every benchmark of an interleaved schedule: what its process state does to
the timings then falls on A and B alike and cancels out of their comparison.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import agentperf
from agentperf.bench.model import Sample, TargetRecipe
from agentperf.errors import AgentperfError, ExitCode

_PACKAGE_ROOT = str(Path(agentperf.__file__).resolve().parent.parent)


class Worker:
    """The parent's handle on one worker interpreter and the benchmarks it hosts."""

    def __init__(self, recipes: Sequence[TargetRecipe], *, no_gc: bool, process: int) -> None:
        self.names = ", ".join(r.name for r in recipes)
        self.process = process
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "agentperf.bench.worker"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, encoding="utf-8", cwd=recipes[0].cwd, env=env)
        try:
            self._request({"op": "open", "recipes": [r.to_dict() for r in recipes],
                           "no_gc": no_gc, "process": process})
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def target(self, index: int) -> WorkerTarget:
        return WorkerTarget(self, index)

    def sample(self, index: int, loops: int, *, memory: bool) -> Sample:
        reply = self._request({"op": "sample", "target": index, "loops": loops,
                               "memory": memory})
        return Sample(loops=loops, elapsed_ns=int(reply["elapsed_ns"]),
                      peak_bytes=reply["peak_bytes"], max_rss_bytes=reply["max_rss_bytes"],
                      process=self.process, cpu_ns=reply.get("cpu_ns"),
                      read_bytes=reply.get("read_bytes"), write_bytes=reply.get("write_bytes"),
                      syscalls=reply.get("syscalls"), input_tokens=reply.get("input_tokens"),
                      output_tokens=reply.get("output_tokens"), cost_usd=reply.get("cost_usd"),
                      cost_estimated=bool(reply.get("cost_estimated")))

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write(json.dumps({"op": "exit"}) + "\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdout is not None:
            self._proc.stdout.close()

    def _request(self, message: dict[str, Any]) -> dict[str, Any]:
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
            line = self._proc.stdout.readline()
        except OSError:
            line = ""
        if not line:
            code = self._proc.wait()
            raise AgentperfError(
                f"{self.names}: bench worker {self.process} exited unexpectedly "
                f"(exit code {code}); its stderr above says why",
                exit_code=ExitCode.WORKLOAD_FAILED)
        reply: dict[str, Any] = json.loads(line)
        if "error" in reply:
            raise AgentperfError(reply["error"], exit_code=ExitCode(reply["exit_code"]))
        return reply


@dataclass(frozen=True)
class WorkerTarget:
    """One benchmark inside a worker; the same ``sample`` call as Target."""

    worker: Worker
    index: int

    def sample(self, loops: int, *, memory: bool) -> Sample:
        return self.worker.sample(self.index, loops, memory=memory)
