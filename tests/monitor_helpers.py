"""Real child processes and agents for the monitor, sampler and registry tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from agentperf.measure.registry import measure

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent

BURN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
ALLOCATE = (
    "import time\nkeep = []\nend = time.time() + {seconds}\n"
    "while time.time() < end:\n"
    "    keep.append(bytearray({chunk}))\n"
    "    time.sleep({pause})\n"
)
WRITE = (
    "import os, time\nend = time.time() + {seconds}\n"
    "with open({path!r}, 'wb') as fh:\n"
    "    while time.time() < end:\n"
    "        fh.seek(0); fh.write(os.urandom(1 << 20)); fh.flush(); os.fsync(fh.fileno())\n"
    "        time.sleep(0.02)\n"
)
# A parent that only waits while its child burns CPU: the tree's CPU is the child's.
PARENT_OF_BURNER = (
    "import subprocess, sys\n"
    "subprocess.run([sys.executable, '-c', {code!r}])\n"
)


def spawn(code: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", code])


def burner(seconds: float = 5.0) -> subprocess.Popen[bytes]:
    return spawn(BURN.format(seconds=seconds))


def allocator(seconds: float = 5.0, chunk: int = 2 << 20, pause: float = 0.05
              ) -> subprocess.Popen[bytes]:
    """Keeps ``chunk`` more bytes every ``pause`` seconds: about 40 MB/s by default."""
    return spawn(ALLOCATE.format(seconds=seconds, chunk=chunk, pause=pause))


def writer(path: Path, seconds: float = 5.0) -> subprocess.Popen[bytes]:
    return spawn(WRITE.format(seconds=seconds, path=str(path)))


def parent_of_burner(seconds: float = 5.0) -> subprocess.Popen[bytes]:
    return spawn(PARENT_OF_BURNER.format(code=BURN.format(seconds=seconds)))


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(TESTS)])
    env.pop("COLUMNS", None)
    return env


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "agentperf", *args], cwd=REPO, env=cli_env(),
                          capture_output=True, text=True, timeout=timeout)


def cli_popen(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "agentperf", *args], cwd=REPO, env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@measure(name="soak_agent")
def soak_agent(item: int) -> int:
    """A 10 ms agent that fails on multiples of 5: the soak's latency and errors are known."""
    time.sleep(0.01)
    if item % 5 == 0:
        raise ValueError(f"input {item} rejected")
    return item * 2


def wait_for(predicate: object, timeout: float = 20.0, step: float = 0.05) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False


_KEPT: list[bytes] = []


def quiet_agent(item: int) -> int:
    """Sleeps 5 ms and keeps nothing: a clean soak."""
    time.sleep(0.005)
    return item


def keeping_agent(item: int) -> int:
    """Sleeps 5 ms and keeps 16 KiB per call: a leaking soak (a few MiB per second)."""
    time.sleep(0.005)
    _KEPT.append(bytes(16 * 1024) + str(item).encode())
    return len(_KEPT)


def steady_agent(item: int) -> int:
    """A 10 ms agent that never fails, for monitor gates that must and must not fire."""
    time.sleep(0.01)
    return item
