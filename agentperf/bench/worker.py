"""A ``--processes`` worker: ``python -m agentperf.bench.worker``.

Speaks JSON lines with its parent: the first request names the recipes, then
``sample`` requests for one of them follow until ``exit`` (the parent calibrates
in its own process). The protocol runs on a private copy of stdout; file
descriptor 1 is pointed at stderr so an agent that prints cannot corrupt it.
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


def _handle(targets: list[Target], request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "sample":
        target = targets[int(request["target"])]
        sample = target.sample(int(request["loops"]), memory=bool(request["memory"]))
        return {"elapsed_ns": sample.elapsed_ns, "peak_bytes": sample.peak_bytes,
                "max_rss_bytes": sample.max_rss_bytes, "cpu_ns": sample.cpu_ns,
                "read_bytes": sample.read_bytes, "write_bytes": sample.write_bytes,
                "syscalls": sample.syscalls, "input_tokens": sample.input_tokens,
                "output_tokens": sample.output_tokens, "cost_usd": sample.cost_usd,
                "cost_estimated": sample.cost_estimated}
    raise AgentperfError(f"bench worker: unknown request {op!r}")


def _open(request: dict[str, Any]) -> list[Target]:
    return [Target(TargetRecipe(**{**recipe, "inputs": tuple(recipe["inputs"])}),
                   no_gc=bool(request["no_gc"]), process=int(request["process"]))
            for recipe in request["recipes"]]


def serve(requests: TextIO, channel: TextIO) -> None:
    targets: list[Target] = []
    for line in requests:
        request = json.loads(line)
        try:
            if request.get("op") == "exit":
                break
            if request.get("op") == "open":
                targets = _open(request)
                _reply(channel, {"ok": True})
                continue
            if not targets:
                raise AgentperfError("bench worker: no recipe opened")
            _reply(channel, _handle(targets, request))
        except AgentperfError as exc:
            _reply(channel, {"error": exc.message, "exit_code": int(exc.exit_code)})
        except Exception as exc:
            _reply(channel, {"error": f"bench worker: {type(exc).__name__}: {exc}",
                             "exit_code": int(ExitCode.WORKLOAD_FAILED)})
    for target in targets:
        target.close()


def main() -> None:
    # Ctrl-C reaches the whole process group; the parent decides when workers stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    serve(sys.stdin, channel)


if __name__ == "__main__":
    main()
