"""Process-wide settings of the Python runtime, for xinyong's long-running processes: the server's
workers (``xinyong serve``) and the command line's jobs (imports, batch comparison, maintenance, the
demo). The benchmarks apply the same settings, so that what they time in process is what those
processes run.

**The garbage collector's first threshold.** CPython collects its youngest generation after 700
container objects (net of those freed) and every tenth collection promotes the survivors. A batch
of 1,000 records allocates tens of thousands of containers that all live until the batch is
written, so at 700 ingestion collected ~18 times per batch, moved each batch's objects into the
oldest generation, and a full collection — walking everything not frozen, ~20 ms — followed every
six or seven batches (bench/bench_ingest.py, 200,000 records: 3,713 young, 338 middle and 30 full
collections, ~1.1 s of ~10 s). Measured, three rounds of two, interleaved (SQLite service ingest,
this process's CPU a record): 700 → ~53 µs, 10,000 → ~50 µs (185 / 17 / 1–2 collections), 50,000
→ ~48 µs (one collection in the whole run). 50,000 cost the check API its tail, though: p99 30.1 /
43.2 / 31.3 ms against 25.6 / 20.8 ms at 700 and 25.7 / 21.2 ms at 10,000 (bench/bench_checks.py,
SQLite), and 10 MB more per worker — a request's cyclic garbage waited longer and was freed in
larger, longer collections. Hence 10,000: the full collections mostly gone, the check path as it
was. Cyclic garbage waits for up to 10,000 allocations."""

from __future__ import annotations

import gc
import logging
import os

GC_THRESHOLD0 = 10_000
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
