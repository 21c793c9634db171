"""Process-wide settings of the Python runtime, for xinyong's long-running processes: the server's
workers (``xinyong serve``) and the command line's jobs (imports, batch comparison, maintenance, the
demo). The benchmarks apply the same settings, so that what they time in process is what those
processes run.

**The garbage collector's first threshold.** CPython collects its youngest generation after 700
container objects (net of those freed) and every tenth collection promotes the survivors. A batch
of 1,000 records allocates tens of thousands of containers that all live until the batch is
written, so at 700 ingestion collected ~18 times per batch, moved each batch's objects into the
oldest generation, and a full collection — walking everything not frozen, ~20 ms — followed every
six or seven batches: 11 % of the service's CPU (bench/bench_ingest.py, 200,000 records; 3,713
young, 338 middle and 30 full collections). At 50,000 a batch's objects are freed before a
collection is due: one collection in the same run. Cyclic garbage then waits for up to 50,000
allocations (a few MB at most), and a young collection, when it comes, has more to walk (a few ms,
rarely)."""

from __future__ import annotations

import gc
import logging
import os

GC_THRESHOLD0 = 50_000
GC_THRESHOLD0_ENV = "XINYONG_GC_THRESHOLD0"  # an operator's override (700: CPython's own)

log = logging.getLogger(__name__)


def configure_gc() -> int:
    """Set the youngest generation's threshold to :data:`GC_THRESHOLD0`, or to the positive integer
    in ``XINYONG_GC_THRESHOLD0`` (the older two keep theirs). Returns the threshold set."""
    young = GC_THRESHOLD0
    raw = os.environ.get(GC_THRESHOLD0_ENV, "").strip()
    if raw:
        try:
            young = int(raw)
            if young < 1:
                raise ValueError(raw)
        except ValueError:
            log.warning("%s=%r is not a positive integer; using %d", GC_THRESHOLD0_ENV, raw, GC_THRESHOLD0)
            young = GC_THRESHOLD0
    _young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)
    return young


def freeze_start_up_heap() -> None:
    """Move every object alive now — modules, routes, the ORM's mappings, which live as long as the
    process — out of the collector's sight: a full collection no longer walks them (fewer long
    pauses in the middle of requests: the check API's p99, docs/measures.md)."""
    gc.collect()
    gc.freeze()
