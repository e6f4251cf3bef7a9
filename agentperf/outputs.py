"""Output files that are complete or absent: checked before a run, written atomically after.

A report file a CI job uploads must never be a half-written or empty leftover: a run
that stops on a usage error writes nothing, and a process killed while writing leaves
the previous file (or none), because the text goes to a temporary file in the same
directory that is renamed over the target only once it is whole. Checking a path
creates nothing, so a run that fails after the check has nothing to clean up.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from agentperf.errors import AgentperfError, ExitCode


def check_output_path(option: str, path: Path) -> None:
    """Fail now, with exit code 2, if ``path`` cannot be written later; create nothing.

    Missing parent directories are allowed (they are made when the file is written, as
    pytest's ``--junitxml`` does); the nearest existing one must take a new file.
    """
    try:
        _check(option, path)
    except OSError as exc:
        raise AgentperfError(f"{option} {path}: cannot write ({exc.strerror})",
                             exit_code=ExitCode.USAGE) from None


def _check(option: str, path: Path) -> None:
    if path.is_dir():
        raise AgentperfError(f"{option} {path}: is a directory; give a file name")
    ancestor = path.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise AgentperfError(f"{option} {path}: {ancestor} is not a directory")
    if path.exists() and not os.access(path, os.W_OK):
        raise AgentperfError(f"{option} {path}: cannot write (file is read-only)")
    probe = ancestor / _temp_name(path)
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.unlink(probe)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename; on any error the old file stays.

    The file gets the mode a plain ``open(path, "w")`` would give (0666 less the umask).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with _replacing(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def write_atomic_lines(path: Path, lines: Iterable[bytes]) -> None:
    """:func:`write_atomic` for a stream of encoded lines, never all held in memory."""
    with _replacing(path, "wb") as handle:
        for line in lines:
            handle.write(line)


@contextmanager
def _replacing(path: Path, mode: str, **options: Any) -> Iterator[IO[Any]]:
    """A new temporary sibling of ``path``, flushed to disk and renamed over ``path``
    when the block ends; removed, leaving ``path`` as it was, if the block raises."""
    temp = path.parent / _temp_name(path)
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, mode, **options) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _temp_name(path: Path) -> str:
    """A hidden sibling name, unique per process and call, as long as the target's plus a
    few characters (so a name too long for the file system fails the check too)."""
    import secrets  # here: only a report file needs a temporary name

    return f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
