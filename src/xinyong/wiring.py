"""Which domains listen to which announcements, in the order data flows.

``xinyong.events`` imports this module on first use. Each module listed registers its handlers
with ``@events.on_records_changed`` / ``@events.on_lists_changed`` at import time. Order matters:
the subjects' lock comes first (a second transaction changing the same person waits here for the
first to commit, then derives from what it committed); lists (e.g. the dishonest-debtor list fed by
the catalog item) update before scoring reads them to write the subject's status.
"""

from __future__ import annotations

import importlib

HANDLER_MODULES = (
    "xinyong.subjects.handlers",
    "xinyong.lists.handlers",
    "xinyong.scoring.handlers",
)

for _name in HANDLER_MODULES:
    importlib.import_module(_name)
