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
# - Arrow's mimalloc may back its memory with the kernel's huge pages where it allows them (transparent
#   huge pages): a million-row load touches a GB of fresh memory, and faulting it in 4 KiB pages costs
#   time. (polars' jemalloc can too, POLARS_THP=1, but its huge pages hold on to some 40 MB more at the
#   load's peak.)
os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:250,muzzy_decay_ms:0")
os.environ.setdefault("MIMALLOC_ALLOW_LARGE_OS_PAGES", "1")
