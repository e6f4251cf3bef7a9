"""A pytest plugin: a test skipped because a module is missing fails instead.

A fresh machine gets only what the ``test`` extra installs. A module that is merely present
on the developer's machine would otherwise turn into a quiet skip on CI (or the reverse),
and the check it guards would stop running without anyone noticing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

#: What ``pytest.importorskip`` and a hand-written ``except ImportError: skip`` say.
_MISSING = re.compile(r"could not import|No module named|ModuleNotFoundError")


def missing_module_reason(report: pytest.TestReport | pytest.CollectReport) -> str | None:
    """The skip reason when ``report`` is a skip for a missing module, else None."""
    if not report.skipped:
        return None
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
    return reason if _MISSING.search(reason) else None


def _fail(report: Any, reason: str) -> None:
    report.outcome = "failed"
    report.longrepr = (f"skipped for a missing module ({reason}); install it through the "
                       "'test' extra of pyproject.toml so every machine runs this test")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if (reason := missing_module_reason(report)) is not None:
        _fail(report, reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if (reason := missing_module_reason(report)) is not None:
        _fail(report, reason)
