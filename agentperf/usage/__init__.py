"""LLM usage: tokens, cost and streaming latency of the agent calls a run makes.

``record_usage`` is the API an agent calls; the rest is read by the pipeline and the
reports. Kept free of heavy imports: ``agentperf --help`` loads none of this.
"""

from agentperf.usage.metering import Metered, record_usage
from agentperf.usage.model import StreamTiming, Tokens, Usage

__all__ = ["Metered", "StreamTiming", "Tokens", "Usage", "record_usage"]
