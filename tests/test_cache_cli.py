"""``agentperf cache stats`` and ``agentperf cache clear`` on a real disk dir and Redis."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from typer.testing import CliRunner

from agentperf.cache.disk import DiskTier
from agentperf.cache.redis_tier import RedisTier
from agentperf.cli.app import app

runner = CliRunner()


def fill(tmp_path: Path, redis_url: str | None = None) -> None:
    disk = DiskTier(tmp_path / "cache")
    for i in range(3):
        disk.set(f"{i:064d}", b"J" + b"x" * 100, 3600)
    if redis_url:
        tier = RedisTier(redis_url)
        for i in range(5):
            tier.set(f"{i:064d}", b"Jabc", 3600)
        tier.close()


def test_stats_and_clear_disk_and_redis(tmp_path: Path, redis_url: str) -> None:
    fill(tmp_path, redis_url)
    secret_url = redis_url.replace("redis://", "redis://:hunter2@")
    args = ["--cache-dir", str(tmp_path / "cache"), "--redis-url", redis_url]
    result = runner.invoke(app, ["cache", "stats", *args, "--json"])
    assert result.exit_code == 0, result.output
    tiers = {t["name"]: t for t in json.loads(result.stdout)["tiers"]}
    assert tiers["disk"]["entries"] == 3 and tiers["disk"]["bytes"] > 300
    assert tiers["redis"]["entries"] == 5 and tiers["redis"]["bytes"] == 20

    result = runner.invoke(app, ["cache", "clear", *args])
    assert result.exit_code == 0, result.output
    assert "disk" in result.stdout and "redis" in result.stdout
    result = runner.invoke(app, ["cache", "stats", *args, "--json"])
    assert [t["entries"] for t in json.loads(result.stdout)["tiers"]] == [0, 0]

    # a password in the URL never reaches the output, even when the server refuses it
    result = runner.invoke(app, ["cache", "stats", "--cache-dir", str(tmp_path / "cache"),
                                 "--redis-url", secret_url])
    assert "hunter2" not in result.output


def test_stats_reads_the_cache_section_of_a_spec(tmp_path: Path) -> None:
    fill(tmp_path)
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(f"""
        agent: json:dumps
        inputs: [1, 2]
        cache:
          dir: {tmp_path / "cache"}
    """))
    result = runner.invoke(app, ["cache", "stats", str(spec), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["tiers"][0]["entries"] == 3


def test_clear_expired_only(tmp_path: Path) -> None:
    disk = DiskTier(tmp_path / "cache", clock=lambda: 0.0)
    disk.set("a" * 64, b"J1", 10)  # expired long ago by the real clock
    disk.set("b" * 64, b"J1", None)
    result = runner.invoke(app, ["cache", "clear", "--expired", "--cache-dir",
                                 str(tmp_path / "cache"), "--json"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["tiers"][0]["removed"] == 1
    assert DiskTier(tmp_path / "cache").usage().entries == 1


def test_bad_spec_key_and_unreachable_redis_are_one_line_exit_2(tmp_path: Path,
                                                                redis_server: object) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text("agent: json:dumps\ncache:\n  tierz: [memory]\n")
    result = runner.invoke(app, ["cache", "stats", str(spec)])
    assert result.exit_code == 2
    assert "spec.yaml:3: cache.tierz: unknown cache setting (did you mean 'tiers'?)" in (
        result.output.replace("\n", ""))
    assert "Traceback" not in result.output

    from conftest import free_port

    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    result = runner.invoke(app, ["cache", "clear", "--cache-dir", str(tmp_path / "c"),
                                 "--redis-url", url])
    assert result.exit_code == 2
    assert "Connection refused" in result.output and ":pw@" not in result.output


def test_help_does_not_import_redis_or_msgpack() -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    code = ("import sys\nfrom agentperf.cli.app import app\n"
            "try:\n    app(['cache', '--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('redis', 'msgpack') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(repo)}, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
