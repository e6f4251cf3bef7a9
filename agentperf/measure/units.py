"""Units for durations, sizes and rates: parsed from what users type, formatted to read.

One place, so a threshold, a profile gate and a report agree on what "512MB" and "500ms"
mean. One byte convention: binary multiples. Input accepts "MB" as memory tools read it
(1024²) and "MiB" alike; output always says KiB, MiB, GiB.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
#: Binary multiples, as memory tools (pytest-memray, Docker) read "MB"; KiB/MiB/GiB alike.
SIZE_UNITS = {"b": 1, "kb": 1024, "kib": 1024, "mb": 1024**2, "mib": 1024**2,
              "gb": 1024**3, "gib": 1024**3, "tb": 1024**4, "tib": 1024**4}
PER_SECOND_UNITS = {"/s": 1.0, "/m": 1 / 60, "/min": 1 / 60, "/h": 1 / 3600}
QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z/%]*)\s*$")


def unit_factor(unit: str, table: Mapping[str, float], what: str) -> float:
    factor = table.get(unit.lower())
    if factor is None:
        raise ValueError(f"unit '{unit}' does not fit {what}")
    return factor


def parse_duration(value: Any, *, bare_unit: str = "s") -> float:
    """Seconds from ``5``, ``"5s"``, ``"500ms"`` or ``"2m"``; bare numbers are in ``bare_unit``."""
    return _quantity(value, DURATION_UNITS, bare_unit, "a duration such as 500ms or 5s")


def parse_rate(value: Any) -> float:
    """Events per second from ``20``, ``"20/s"``, ``"500/m"`` or ``"3600/h"`` (bare: per second)."""
    return _quantity(value, PER_SECOND_UNITS, "/s", "a rate such as 20/s, 500/m or 3600/h")


def parse_bytes(value: Any) -> int:
    """Bytes from ``1024``, ``"512MB"`` or ``"1GiB"`` (KB, MB, GB are binary multiples)."""
    return int(_quantity(value, SIZE_UNITS, "b", "a size such as 512MB or 1GB"))


def _quantity(value: Any, table: Mapping[str, float], bare_unit: str, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected {what}, got a boolean")
    if isinstance(value, (int, float)):
        number, unit = float(value), bare_unit
    else:
        match = QUANTITY.match(str(value))
        if not match:
            raise ValueError(f"expected {what}, got '{value}'")
        number, unit = float(match[1]), match[2] or bare_unit
    if number < 0:
        raise ValueError(f"expected {what}, got a negative number")
    return number * unit_factor(unit, table, what)


def format_duration(seconds: float) -> str:
    if seconds < 1e-6:
        return f"{seconds * 1e9:.0f}ns"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f}us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f}ms"
    if seconds < 120:
        return f"{seconds:.2f}s"
    return f"{seconds / 60:.1f}m"


def format_bytes(size: float) -> str:
    """Binary multiples with IEC names (KiB, MiB, GiB): every report says what it means."""
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(size) >= factor:
            return f"{size / factor:.1f} {unit}"
    return f"{size:.0f} B"


def format_usd(value: float) -> str:
    """Dollars with four significant digits and no exponent: $2.50, $0.0001234."""
    if value == 0:
        return "$0"
    if abs(value) >= 1:
        return f"${value:,.2f}"
    digits = max(2, 3 - math.floor(math.log10(abs(value))))
    return f"${value:.{digits}f}"
