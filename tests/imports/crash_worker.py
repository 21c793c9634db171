"""Run one import job in this process, slowly (each chunk's transaction stays open a while), so that
the test can ``kill -9`` it mid-way. Usage: crash_worker.py DB_URL KEY_FILE JOB_ID CHUNK_SIZE"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from xinyong.db import Database
from xinyong.imports import runner
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault


def main() -> None:
    url, key_file, job_id, chunk = sys.argv[1:5]
    real_ingest = runner.ingest

    def slow_ingest(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_ingest(*args, **kwargs)
        time.sleep(0.05)  # inside the chunk's transaction: a kill now must roll the chunk back
        return out

    runner.ingest = slow_ingest  # type: ignore[assignment]
    db = Database(url)
    runner.run_job(db, Vault(KeyRing.load(Path(key_file))), int(job_id), chunk_size=int(chunk))


if __name__ == "__main__":
    main()
