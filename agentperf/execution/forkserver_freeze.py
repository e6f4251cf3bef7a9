"""The forkserver's last preload: it freezes what the forkserver has imported.

Imported only there (:data:`agentperf.execution.worker_start.PRELOAD`), after the
worker's own modules. Every worker is forked from that state, and frozen
(:func:`gc.freeze`) those objects are never walked by the collector again: not by a
worker's collections, which run inside its agent's calls and would otherwise write to
every one of those objects' pages, copying them from the forkserver one by one; and not
by the forkserver's clean-up when it exits, after agentperf (about 5 ms of a one-input
run in processes mode). Python's documentation of ``gc.freeze`` suggests it before a
``fork()``.
"""

import gc

gc.freeze()
