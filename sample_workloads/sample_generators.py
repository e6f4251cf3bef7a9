"""Input generators named from specs as ``generators:numbered_inputs``."""

from collections.abc import Iterator
from typing import Any


def numbered_inputs(count: int = 100, rounds: int = 2000) -> Iterator[dict[str, Any]]:
    for i in range(count):
        yield {"text": f"document {i}", "rounds": rounds}
