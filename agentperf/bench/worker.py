"""A ``--processes`` worker: ``python -m agentperf.bench.worker``.

Speaks JSON lines with its parent: the first request names the recipe, then
``sample`` requests follow until ``exit`` (the parent calibrates in its own
process). The protocol runs on a private copy of stdout; file descriptor 1 is
pointed at stderr so an agent that prints cannot corrupt it.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any, TextIO

from agentperf.bench.model import TargetRecipe
from agentperf.bench.target import Target
from agentperf.errors import AgentperfError, ExitCode


def _reply(channel: TextIO, message: dict[str, Any]) -> None:
    channel.write(json.dumps(message) + "\n")
    channel.flush()


def _handle(target: Target, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "sample":
        sample = target.sample(int(request["loops"]), memory=bool(request["memory"]))
        return {"elapsed_ns": sample.elapsed_ns, "peak_bytes": sample.peak_bytes,
                "max_rss_bytes": sample.max_rss_bytes}
    raise AgentperfError(f"bench worker: unknown request {op!r}")


def serve(requests: TextIO, channel: TextIO) -> None:
    target: Target | None = None
    for line in requests:
        request = json.loads(line)
        try:
            if request.get("op") == "exit":
                break
            if request.get("op") == "open":
                recipe = TargetRecipe(**{**request["recipe"],
                                         "inputs": tuple(request["recipe"]["inputs"])})
                target = Target(recipe, no_gc=bool(request["no_gc"]),
                                process=int(request["process"]))
                _reply(channel, {"ok": True})
                continue
            if target is None:
                raise AgentperfError("bench worker: no recipe opened")
            _reply(channel, _handle(target, request))
        except AgentperfError as exc:
            _reply(channel, {"error": exc.message, "exit_code": int(exc.exit_code)})
        except Exception as exc:
            _reply(channel, {"error": f"bench worker: {type(exc).__name__}: {exc}",
                             "exit_code": int(ExitCode.WORKLOAD_FAILED)})
    if target is not None:
        target.close()


def main() -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    serve(sys.stdin, channel)


if __name__ == "__main__":
    main()
