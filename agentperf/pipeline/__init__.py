"""Commands as pipelines: workload -> execution -> measure -> analysis, returning data."""
