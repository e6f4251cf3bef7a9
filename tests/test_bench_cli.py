"""``agentperf bench`` from the command line: baselines, gates, formats, bad input."""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agentperf.bench.baseline import FORMAT, load_suite, save_suite
from agentperf.bench.model import BenchSuite, Sample, TargetRecipe
from agentperf.bench.results import build_result
from agentperf.cli.app import app

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent
# In this process: the tests below are about everything but isolation, which has its own.
FAST = ["--samples", "12", "--min-time", "1ms", "--warmup", "1", "--processes", "0"]


def agentperf(*args: str, env: dict[str, str] | None = None,
              cwd: Path = TESTS) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS)])
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "agentperf", "bench", *args], cwd=cwd,
                          env=full_env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def invoke(*args: str, cwd: Path = TESTS):
    previous = Path.cwd()
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, ["bench", *args])
    finally:
        os.chdir(previous)


def _synthetic(path: Path, name: str, per_call_s: float, peak: int = 1000) -> None:
    recipe = TargetRecipe(name=name, kind="agent", reference="bench_agents:spin_base")
    spread = (0.0, 0.004, -0.003, 0.002, -0.001, 0.003, -0.002, 0.001, -0.004, 0.0)
    samples = [Sample(loops=100, elapsed_ns=round(per_call_s * (1 + d) * 100e9), peak_bytes=peak,
                      max_rss_bytes=50_000_000) for d in spread]
    result = build_result(recipe, samples, loops=100, load_average=0.1, cpu_count=2)
    save_suite(BenchSuite([result], {"cpu_count": 2, "python_version": "3.11.7"}, {},
                          "2026-01-01T00:00:00+00:00", "0.1.0"), path)


def test_a_baseline_saved_by_one_run_is_compared_by_another(tmp_path: Path) -> None:
    baseline = tmp_path / "base.json"
    first = agentperf("bench_agents:spin_env", *FAST, "--save", str(baseline), "-q")
    assert first.returncode == 0, first.stderr
    data = json.loads(baseline.read_text())
    assert data["format"] == FORMAT and data["format_version"] == 1
    [bench] = data["benchmarks"]
    assert bench["name"] == "spin_env" and len(bench["samples"]) == 12
    assert {"loops", "elapsed_ns", "peak_bytes", "max_rss_bytes"} <= set(bench["samples"][0])
    env = data["environment"]
    assert {"python_version", "python_implementation", "cpu_model", "cpu_count", "os",
            "agentperf_version", "git_commit", "git_dirty"} <= set(env)
    assert data["options"]["samples"] == 12

    second = agentperf("bench_agents:spin_env", "--min-time", "1ms", "--compare",
                       str(baseline), "--json", "--fail-if-slower", "5%",
                       env={"BENCH_AGENT_SLOWDOWN": "4"})
    # 4x, not 2x: an unstable run (a loaded suite) is inconclusive unless the change is
    # beyond that run's own spread, and a 2x change was within it once on 2 busy cores.
    assert second.returncode == 1, second.stderr
    report = json.loads(second.stdout)
    [pair] = report["comparison"]["benchmarks"]
    assert pair["name"] == "spin_env" and pair["base_count"] == pair["new_count"] == 12
    assert pair["time"]["verdict"] == "slower" and report["gate_failed"]
    assert pair["time"]["ratio"] == pytest.approx(4, rel=0.35)
    # the baseline's loop count and settings were reused (samples 12, this process)
    [new] = report["benchmarks"]
    assert {s["loops"] for s in new["samples"]} == {bench["samples"][0]["loops"]}
    assert {s["process"] for s in new["samples"]} == {0}
    codes = [w["code"] for w in pair["warnings"]]
    assert "one-process" in codes and "single-run-baseline" in codes
    assert "loops-differ" not in codes
    # one process per side: base is the geometric mean of the baseline's samples
    base_times = load_suite(baseline).benchmarks[0].times
    assert pair["time"]["base_value"] == pytest.approx(
        math.exp(statistics.fmean(math.log(t) for t in base_times)))
    assert report["comparison"]["environment_differences"] == []


def test_fail_if_slower_against_a_baseline_sets_the_exit_code(tmp_path: Path) -> None:
    """Baselines far faster and far slower than any real run: the verdict cannot flip."""
    fast, slow = tmp_path / "fast.json", tmp_path / "slow.json"
    _synthetic(fast, "spin_env", 1e-9)
    _synthetic(slow, "spin_env", 1.0)
    failed = agentperf("bench_agents:spin_env", *FAST, "--compare", str(fast),
                       "--fail-if-slower", "5%")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "FAIL" in failed.stdout and "slower" in failed.stdout
    passed = agentperf("bench_agents:spin_env", *FAST, "--compare", str(slow),
                       "--fail-if-slower", "0%")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "faster" in passed.stdout


def test_run_noise_decides_what_a_single_run_baseline_calls(tmp_path: Path) -> None:
    base, new = tmp_path / "base.json", tmp_path / "new.json"
    _synthetic(base, "k", 1e-4)
    _synthetic(new, "k", 1.03e-4)  # 3 % slower, each side within +-0.4 %
    verdicts = {}
    for noise in ("5%", "0", "2%"):
        done = agentperf("compare", str(base), str(new), "--json", "--run-noise", noise,
                         "--fail-if-slower", "1%")
        report = json.loads(done.stdout)
        [pair] = report["comparison"]["benchmarks"]
        verdicts[noise] = (pair["time"]["verdict"], done.returncode,
                           report["comparison"]["run_noise"])
    assert verdicts == {"5%": ("no significant change", 0, 0.05), "0": ("slower", 1, 0.0),
                        "2%": ("slower", 1, 0.02)}
    shown = agentperf("compare", str(base), str(new))
    assert "changes within +-5% are not called (--run-noise)" in " ".join(shown.stdout.split())


def test_save_append_keeps_runs_apart_and_compare_uses_their_spread(tmp_path: Path) -> None:
    baseline = tmp_path / "base.json"
    for _ in range(3):
        done = agentperf("bench_agents:spin_base", *FAST, "--save", str(baseline), "--append",
                         "-q")
        assert done.returncode == 0, done.stderr
    [bench] = json.loads(baseline.read_text())["benchmarks"]
    assert [s["run"] for s in bench["samples"]] == [r for r in range(3) for _ in range(12)]
    assert len({s["loops"] for s in bench["samples"]}) == 1  # later runs reuse the first's
    compared = agentperf("bench_agents:spin_base", *FAST, "--compare", str(baseline), "--json")
    assert compared.returncode == 0, compared.stderr
    [pair] = json.loads(compared.stdout)["comparison"]["benchmarks"]
    assert "run-to-run spread" in pair["time"]["method"]
    assert "single-run-baseline" not in [w["code"] for w in pair["warnings"]]
    fewer = invoke("bench_agents:spin_base", "--min-time", "1ms", "--samples", "6",
                   "--compare", str(baseline), "--json")
    assert fewer.exit_code == 0, fewer.output
    report = json.loads(fewer.stdout)
    assert "settings-differ" in [w["code"] for w in report["comparison"]["warnings"]]
    assert len(report["benchmarks"][0]["samples"]) == 6
    assert {s["process"] for s in report["benchmarks"][0]["samples"]} == {0}  # baseline's
    replaced = agentperf("bench_agents:spin_base", *FAST, "--save", str(baseline), "-q")
    assert replaced.returncode == 0, replaced.stderr
    assert len(load_suite(baseline).benchmarks[0].samples) == 12


def test_type_cpu_io_and_memory_measure_a_workload(tmp_path: Path) -> None:
    out = tmp_path / "io.json"
    io = invoke("bench_agents:write_and_wait", "--type", "io", *FAST, "--samples", "5",
                "--save", str(out))
    assert io.exit_code == 0, io.output
    figures = load_suite(out).benchmarks[0].figures
    assert figures["wait_per_call_s"] > 0.0015  # the 2 ms sleep
    assert figures["cpu_share"] < 0.6
    assert figures["syscalls_per_call"] >= 1
    assert figures["write_bytes_per_call"] >= 4096
    assert "waiting" in io.stdout and "syscalls per call" in io.stdout
    cpu = invoke("bench_agents:spin_base", "--type", "cpu", *FAST, "--json")
    assert cpu.exit_code == 0, cpu.output
    derived = json.loads(cpu.stdout)["benchmarks"][0]["derived"]
    assert derived["figures"]["cpu_per_call_s"] > 0
    assert 0.3 < derived["figures"]["cpu_share"] < 1.5
    memory = invoke("bench_agents:allocate_64k", "--type", "memory", *FAST, "--json")
    assert memory.exit_code == 0, memory.output
    document = json.loads(memory.stdout)["benchmarks"][0]
    assert document["memory_per_call"]["peak_bytes_per_call"] >= 64 * 1024
    assert document["memory_per_call"]["retained_bytes_per_call"] < 16 * 1024
    assert document["memory_per_call"]["peak_rss_bytes"] > 0


def test_two_functions_with_one_short_name_are_shown_module_qualified() -> None:
    result = invoke("bench_agents:spin_base", "--interleave", "bench_twin:spin_base", *FAST)
    assert result.exit_code == 0, result.output
    assert "bench_agents:spin_base -> bench_twin:spin_base" in result.stdout


def test_interleaved_runs_gate_a_slower_candidate_and_pass_an_identical_one() -> None:
    slow = agentperf("bench_agents:spin_base", "--interleave", "bench_agents:spin_double",
                     "--samples", "20", "--min-time", "1ms", "--fail-if-slower", "5%")
    assert slow.returncode == 1, slow.stdout + slow.stderr
    assert "FAIL" in slow.stdout and "spin_base -> spin_double" in slow.stdout
    same = agentperf("bench_agents:spin_base", "--interleave", "bench_agents:spin_base",
                     "--samples", "20", "--min-time", "1ms", "--fail-if-slower", "25%")
    assert same.returncode == 0, same.stdout + same.stderr
    assert "[baseline]" in same.stdout and "[candidate]" in same.stdout


def test_bench_compare_command_verdicts_and_exit_codes(tmp_path: Path) -> None:
    base, slower, same = tmp_path / "a.json", tmp_path / "b.json", tmp_path / "c.json"
    _synthetic(base, "work", 100e-6)
    _synthetic(slower, "work", 120e-6, peak=2000)
    _synthetic(same, "work", 100e-6)
    result = invoke("compare", str(base), str(slower), "--fail-if-slower", "5%", "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["comparison"]["benchmarks"][0]["time"]["ratio"] == pytest.approx(1.2)
    assert invoke("compare", str(base), str(slower), "--fail-if-slower", "30%").exit_code == 0
    memory = invoke("compare", str(base), str(slower), "--fail-if-more-memory", "50%")
    assert memory.exit_code == 1 and "more memory" in memory.stdout
    unchanged = invoke("compare", str(base), str(same), "--fail-if-slower", "1%", "--md")
    assert unchanged.exit_code == 0
    assert "no significant change" in unchanged.stdout and unchanged.stdout.startswith("|")


@pytest.mark.parametrize(("content", "expected"), [
    ("{not json", "not valid JSON"),
    ('{"benchmarks": [], "metadata": {}, "version": "1.0"}', "looks like a pyperf result file"),
    ("[1, 2, 3]", "not an agentperf bench baseline"),
    ('{"format": "agentperf-bench", "format_version": 99, "environment": {}, '
     '"benchmarks": []}', "newer agentperf"),
])
def test_corrupt_or_foreign_baselines_exit_2_with_one_line(tmp_path: Path, content: str,
                                                           expected: str) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = invoke("bench_agents:one_us", "--compare", str(bad), *FAST)
    assert result.exit_code == 2
    assert expected in result.stderr and str(bad) in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_a_damaged_sample_is_named_by_its_key_path(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    _synthetic(good, "work", 1e-4)
    data = json.loads(good.read_text())
    data["benchmarks"][0]["samples"][3]["elapsed_ns"] = -5
    good.write_text(json.dumps(data))
    result = invoke("compare", str(good), str(good))
    assert result.exit_code == 2
    assert "benchmarks[0].samples[3].elapsed_ns: expected a positive integer" in result.stderr
    with pytest.raises(Exception, match="positive integer"):
        load_suite(good)


def test_output_formats_md_csv_gab_json_and_histogram(tmp_path: Path) -> None:
    csv_file, gab = tmp_path / "out.csv", tmp_path / "gab.json"
    result = invoke("bench_agents:one_us", *FAST, "--md", "--csv", str(csv_file),
                    "--export-gab", str(gab))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("| Benchmark | Time | 95% CI | Median")
    assert "`one_us`" in result.stdout
    assert csv_file.read_text().splitlines()[0].startswith("name,kind,samples,loops,time_s,time_of,median_s")
    entries = json.loads(gab.read_text())
    assert entries[0]["name"] == "one_us" and entries[0]["unit"] == "us"
    assert 0 < entries[0]["value"] < 100
    as_json = invoke("bench_agents:echo", "-i", '{"q": 1}', "-i", '"two"', *FAST, "--json")
    assert as_json.exit_code == 0, as_json.output
    document = json.loads(as_json.stdout)
    assert document["benchmarks"][0]["recipe"]["inputs"] == ['{"q": 1}', '"two"']
    hist = invoke("bench_agents:one_us", *FAST, "--hist")
    assert hist.exit_code == 0 and "samples (time per call)" in hist.stdout
    assert "|" in hist.stdout and "#" in hist.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["--type", "gpu"], "unknown type 'gpu'"),
    (["--type", "agent"], "needs a WORKLOAD"),
    (["--type", "all", "bench_agents:one_us"], "use --type cpu, memory or io with a WORKLOAD"),
    (["bench_agents:one_us", "--append"], "--append: needs --save FILE"),
    (["bench_agents:one_us", "--fail-if-slower", "5%"], "need --compare FILE or --interleave"),
    (["bench_agents:one_us", "--fail-if-slower", "five"], "expected a percentage"),
    (["bench_agents:one_us", "--min-time", "soon"], "expected a duration"),
    (["bench_agents:nope"], "no attribute 'nope'"),
    (["bench_agents:one_us", "--csv", "/nonexistent/dir/x.csv"], "does not exist"),
    (["bench_agents:one_us", "--json", "--md"], "--json/--md: choose one"),
])
def test_bad_options_exit_2_with_a_clear_line(args: list[str], expected: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "Traceback" not in result.output


def test_builtin_type_runs_from_the_cli_and_failing_agent_exits_3() -> None:
    result = invoke("--type", "io", "--samples", "3", "--min-time", "1ms", "--warmup", "0")
    assert result.exit_code == 0, result.output
    for name in ("io.loop_yield", "io.tasks", "io.file"):
        assert name in result.stdout
    failing = invoke("bench_agents:failing", *FAST)
    assert failing.exit_code == 3 and "ValueError: boom" in failing.stderr


def test_help_shows_run_options_and_the_compare_subcommand() -> None:
    result = CliRunner().invoke(app, ["bench", "--help"])
    assert result.exit_code == 0
    assert "--fail-if-slower" in result.stdout and "bench compare" in result.stdout
    compare_help = CliRunner().invoke(app, ["bench", "compare", "--help"])
    assert compare_help.exit_code == 0 and "BASE.json" in compare_help.stdout


def test_a_yaml_spec_is_benchmarked_with_its_inputs(tmp_path: Path) -> None:
    spec = tmp_path / "work.yaml"
    spec.write_text("name: echo-spec\nagent: bench_agents:echo\ninputs: [1, 2, 3]\n")
    result = invoke(str(spec), *FAST, "--json", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    [bench] = json.loads(result.stdout)["benchmarks"]
    assert bench["name"] == "echo-spec" and bench["recipe"]["kind"] == "agent"
    assert bench["loops"] > 1
    broken = tmp_path / "broken.yaml"
    broken.write_text("agent: [unclosed\n")
    bad = invoke(str(broken), cwd=tmp_path)
    assert bad.exit_code == 2 and "broken.yaml:" in bad.stderr and "invalid YAML" in bad.stderr


def test_by_default_short_calls_are_sampled_in_worker_processes_one_sample_each() -> None:
    # auto means 20 workers; with 12 samples, 12 workers (never a worker without one)
    result = agentperf("bench_agents:spin_base", "--samples", "12", "--min-time", "1ms",
                       "--json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    [bench] = document["benchmarks"]
    assert sorted(s["process"] for s in bench["samples"]) == list(range(12))
    assert bench["derived"]["time_of"] == "geometric mean of 12 worker means"
    assert document["options"]["processes"] == "auto"
    single = agentperf("bench_agents:spin_base", "--samples", "4", "--min-time", "1ms",
                       "--processes", "1", "--json")
    assert {s["process"] for s in json.loads(single.stdout)["benchmarks"][0]["samples"]} == {0}
    for bad in ("-1", "many"):
        wrong = agentperf("bench_agents:spin_base", "--processes", bad)
        assert wrong.returncode == 2
        assert "--processes: expected auto or a number of processes" in wrong.stderr


def test_an_agent_that_prints_does_not_spoil_json_output() -> None:
    result = agentperf("bench_agents:noisy", "--samples", "3", "--min-time", "1ms", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["benchmarks"][0]["name"] == "noisy"
    assert "noise on stdout" in result.stderr
