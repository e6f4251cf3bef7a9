"""Memory profiles of a workload: peak, allocation sites, leaks pinned to a line, RSS timeline.

``profile_memory`` and ``profile_block`` are the library entry points; the rest of the
package is the machinery behind them, one pass or one measurement per module.
"""

from __future__ import annotations

from agentperf.profiling.api import BlockProfile, profile_block, profile_memory
from agentperf.profiling.result import ProfileResult

__all__ = ["BlockProfile", "ProfileResult", "profile_block", "profile_memory"]
