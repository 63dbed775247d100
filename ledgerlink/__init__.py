"""ledgerlink: ERP integration hub for finance teams.

Everything under this package except ``ledgerlink.airflow`` runs without Airflow.
"""

import os

__version__ = "0.1.0"

# Allocator settings for big loads, each taken only when the environment does not set it (the allocators
# read them when polars and pyarrow load, and every ledgerlink module imports this package first):
# - polars' jemalloc hands memory it freed back in two stages, the second after a second; until then
#   the pages stay counted in the process's memory. A load's steps each free hundreds of MB of
#   temporaries, one after the other, so the process would peak near their sum: here freed memory goes
#   back in one stage, within a quarter of a second.
# - Arrow's mimalloc keeps memory it freed for reuse, still counted in the process's memory: here it
#   gives it back at once (and commits its arenas as they are used, not up front). The source table,
#   dropped halfway through a million-row load, then leaves the process instead of raising its peak;
#   this costs some page faults when memory is taken again.
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:250,muzzy_decay_ms:0")
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "0")
os.environ.setdefault("MIMALLOC_ARENA_EAGER_COMMIT", "0")
