"""Run one import job in this process, slowly (each chunk's transaction stays open a while), so that
the test can ``kill -9`` it mid-way. Usage: crash_worker.py DB_URL KEY_FILE JOB_ID CHUNK_SIZE [PIDS_FILE]

With PIDS_FILE, the file is prepared in a helper process, whose pid and its fork server's are
written there once it answered its first chunk."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from xinyong.db import Database
from xinyong.imports import prepare, runner
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault


def main() -> None:
    url, key_file, job_id, chunk = sys.argv[1:5]
    pids = sys.argv[5] if len(sys.argv) > 5 else ""
    real_ingest = runner.ingest

    class Helper(prepare.HelperPreparer):
        def answer(self):  # type: ignore[no-untyped-def]
            plan = super().answer()
            if not Path(pids).exists():
                from multiprocessing import forkserver

                server = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
                Path(pids).write_text(f"{self.pid} {server}")
            return plan

    prepare.HelperPreparer = Helper  # type: ignore[misc]

    def slow_ingest(*args, **kwargs):  # type: ignore[no-untyped-def]
        out = real_ingest(*args, **kwargs)
        time.sleep(0.05)  # inside the chunk's transaction: a kill now must roll the chunk back
        return out

    runner.ingest = slow_ingest  # type: ignore[assignment]
    db = Database(url)
    runner.run_job(db, Vault(KeyRing.load(Path(key_file))), int(job_id), chunk_size=int(chunk), helper=bool(pids))


if __name__ == "__main__":
    main()
