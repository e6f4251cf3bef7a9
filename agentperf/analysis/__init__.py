"""Judgement on measured numbers: health, thresholds, comparisons."""
