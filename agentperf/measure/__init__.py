"""Numbers: statistics, streaming histograms, time series and samplers."""
