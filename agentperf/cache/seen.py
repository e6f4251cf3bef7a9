"""A fixed-size Bloom filter: "has this key been seen in the run?" in constant memory.

A set of every key would grow with the input (a million SHA-256 keys is about 100 MB);
2 MiB of bits answers with a small false-positive rate at a million keys (about 0.2 %,
enough for the health engine's "this workload repeats inputs" estimate).
"""

from __future__ import annotations

import threading

DEFAULT_BITS = 1 << 24
_HASHES = 4


class SeenFilter:
    """Approximate membership of hex SHA-256 keys (their digits are already uniform)."""

    def __init__(self, bits: int = DEFAULT_BITS) -> None:
        if bits & (bits - 1):
            raise ValueError("bits must be a power of two")
        self._bits = bytearray(bits // 8)
        self._mask = bits - 1
        self._lock = threading.Lock()

    def check_and_add(self, hex_key: str) -> bool:
        """True when ``hex_key`` was (probably) added before; adds it either way."""
        positions = [int(hex_key[i * 8:(i + 1) * 8], 16) & self._mask for i in range(_HASHES)]
        seen = True
        with self._lock:
            for pos in positions:
                byte, bit = pos >> 3, 1 << (pos & 7)
                if not self._bits[byte] & bit:
                    seen = False
                    self._bits[byte] |= bit
        return seen
