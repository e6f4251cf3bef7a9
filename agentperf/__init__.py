"""agentperf: benchmark, profile and monitor AI-agent workloads."""

__version__ = "0.1.0"
