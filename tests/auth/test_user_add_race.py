"""Two accounts for one ID number (or one user name) added at once: each request checks that neither
is taken, then inserts. On PostgreSQL the second insert waited on the unique index for the first to
commit and then failed — an IntegrityError, a 500 with no refusal registered — where an account added
after the first is refused ``duplicate_citizen`` (``duplicate_username``). Both are refused so now.
On SQLite the requests' write transactions take turns: the second finds the first's account."""

from __future__ import annotations

import contextlib
import threading

import pytest
from tests.support import PASSWORD, SYSTEM, committed_database

from xinyong.auth import service as auth_service


@pytest.mark.parametrize(("names", "same_number", "refused"), [
    (("citizen_a", "citizen_b"), True, "duplicate_citizen"),
    (("samename", "samename"), False, "duplicate_username"),
])
def test_two_accounts_added_at_once_for_one_number_or_name_one_is_refused(tmp_path, monkeypatch, names, same_number,
                                                                         refused) -> None:  # type: ignore[no-untyped-def]
    db, drop = committed_database(tmp_path, "useraddrace")
    try:
        met = threading.Barrier(2, timeout=2)
        real = auth_service.hash_password

        def hash_together(password: str) -> str:
            # both have checked that the name and the number are free before either inserts
            with contextlib.suppress(threading.BrokenBarrierError):  # SQLite: the requests take turns
                met.wait()
            return real(password)

        monkeypatch.setattr(auth_service, "hash_password", hash_together)
        outcomes: list[str] = []

        def add(i: int) -> None:
            binding = auth_service.CitizenBinding(id_bidx="b-same" if same_number else f"b-{i}",
                                                  id_masked="120101********0015", subject_id=None)
            try:
                with db.session() as s:
                    auth_service.add_user(s, username=names[i], password=PASSWORD, role="citizen", actor=SYSTEM,
                                          citizen=binding)
                outcomes.append("created")
            except auth_service.AuthError as exc:
                outcomes.append(exc.code)
            except Exception as exc:  # noqa: BLE001 - what the request answered: a 500
                outcomes.append(type(exc).__name__)

        threads = [threading.Thread(target=add, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(outcomes) == sorted(["created", refused])
    finally:
        drop()
