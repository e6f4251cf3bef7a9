"""--resume on a large results file: time and memory against one raw JSON pass.

Writes a results file of N rows (a tenth of them failures, in a shuffled completion
order, as a real run leaves it), then times, in one run:

- raw: one pass of ``json.loads`` over every line (what any reader of the file pays);
- plan: ``plan_resume`` - read every row into the index arrays and check every input's
  digest against the row at its index (the inputs are ``range(N)``, streamed);
- fold: the kept rows into a ``TaskTally`` (the whole-batch summary);
- compact: the atomic rewrite with one row per input, after the failed inputs' new rows
  were appended.

and the RSS the plan holds (the arrays: about 9 bytes an index) against the file size.

    python benchmarks/resume.py            # 1,000,000 rows; --rows N for another size
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from agentperf.measure.rss import OwnRss
from agentperf.measure.tally import TaskTally
from agentperf.pipeline.results_file import input_digest
from agentperf.pipeline.resume import plan_resume


def write_rows(path: Path, n: int, rng: random.Random) -> list[int]:
    order = list(range(n))
    rng.shuffle(order)
    failed = []
    with path.open("w") as handle:
        for index in order:
            ok = rng.random() >= 0.1
            row = {
                "index": index,
                "input_digest": input_digest(index),
                "ok": ok,
                "latency_s": round(rng.uniform(0.01, 0.5), 9),
                "attempts": 1,
                "cache_hit": False,
                "worker": "pid:1234",
                "code_fingerprint": "4fa12a1d5d26",
            }
            if ok:
                row["output"] = index * 2
            else:
                row["error"] = {"type": "ValueError", "message": "bad", "traceback": ""}
                failed.append(index)
            handle.write(json.dumps(row) + "\n")
    return failed


def timed(label: str, fn, results: dict[str, float]):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn()
    results[label] = time.perf_counter() - start
    return value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    n = args.rows
    rng = random.Random(7)
    rss = OwnRss()
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.jsonl"
        failed = write_rows(path, n, rng)
        size = path.stat().st_size

        def raw() -> int:
            with path.open("rb") as handle:
                return sum(1 for line in handle if json.loads(line))

        timed("raw json pass", raw, times)
        before = rss()
        plan = timed(
            "plan (read + check inputs)",
            lambda: plan_resume(path, range(n), "4fa12a1d5d26", anyway=False),
            times,
        )
        held = rss() - before
        tally = TaskTally()
        timed("fold into the summary", lambda: plan.fold(tally), times)
        with path.open("a") as handle:  # the failed inputs' rows of the resumed run
            for index in failed:
                handle.write(
                    json.dumps(
                        {
                            "index": index,
                            "input_digest": input_digest(index),
                            "ok": True,
                            "latency_s": 0.1,
                            "attempts": 1,
                            "cache_hit": False,
                            "output": index * 2,
                        }
                    )
                    + "\n"
                )
        timed("compact (atomic rewrite)", plan.compact, times)
        final = sum(1 for _ in path.open("rb"))
    raw_s = times["raw json pass"]
    print(
        f"{n:,} rows, {size / 1e6:.0f} MB, {len(failed):,} failed; Python {sys.version.split()[0]}"
    )
    for label, seconds in times.items():
        print(f"  {label:28s} {seconds:7.2f} s   {seconds / raw_s:5.2f}x raw")
    total = sum(v for k, v in times.items() if k != "raw json pass")
    print(f"  resume total                 {total:7.2f} s   {total / raw_s:5.2f}x raw")
    print(f"  RSS held by the plan: {held / 1e6:.1f} MB ({held / n:.1f} bytes a row; target < 20)")
    print(f"  final file: {final:,} rows (target {n:,}), kept {plan.kept:,}, folded {tally.done:,}")


if __name__ == "__main__":
    main()
