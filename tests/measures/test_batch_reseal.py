"""Key rotation reaches the batch comparison's sealed files (both engines): results and the uploads
kept by unfinished jobs are resealed under the new key and stay readable once the old key is gone."""

from __future__ import annotations

import copy
from datetime import timedelta

from sqlalchemy import select, update
from tests.support import SYSTEM, new_id_number

from xinyong.db import utcnow
from xinyong.measures import batch, service
from xinyong.measures.models import CompareFile, CompareJob
from xinyong.privacy.keys import KeyRing
from xinyong.privacy.vault import Vault


def test_reseal_files_moves_results_and_kept_uploads_to_the_new_key(db, world):  # type: ignore[no-untyped-def]
    ring = KeyRing.generate()
    old = Vault(ring)
    caller = service.Caller(world.dept_a.id, world.dept_a.code, SYSTEM)
    data = ("身份证号码\n" + "\n".join(new_id_number() for _ in range(3)) + "\n").encode()
    with db.session() as s:
        done_id = batch.create_job(s, vault=old, caller=caller, scenario="awards", filename="a.csv", data=data).id
        stuck_id = batch.create_job(s, vault=old, caller=caller, scenario="awards", filename="b.csv", data=data).id
    assert batch.run_job(db, old, done_id).status == "done"  # type: ignore[union-attr]
    with db.session() as s:
        result_before = batch.result_csv(s, vault=old, job=s.get(CompareJob, done_id), actor=SYSTEM)
        s.execute(update(CompareJob).where(CompareJob.id == stuck_id).values(
            status="running", runner="dead", heartbeat_at=utcnow() - timedelta(minutes=5)))
    old_kid = ring.active_encryption_key

    rotated = copy.deepcopy(ring)
    new_kid = rotated.add_encryption_key()
    new = Vault(rotated)
    with db.session() as s:
        assert batch.sealed_key_counts(s, new_kid) == {old_kid: 2}
        assert batch.reseal_files(s, vault=new) == 2
        assert batch.sealed_key_counts(s, new_kid) == {}
        assert batch.reseal_files(s, vault=new) == 0  # nothing left: a second pass changes nothing
    rotated.retire_encryption_key(old_kid)
    after = Vault(rotated)
    with db.session() as s:
        assert set(s.scalars(select(CompareFile.key_id))) == {new_kid}
        assert batch.result_csv(s, vault=after, job=s.get(CompareJob, done_id), actor=SYSTEM) == result_before
    job = batch.run_job(db, after, stuck_id)
    assert job is not None and (job.status, job.unknown) == ("done", 3), job and (job.status, job.error_code)
