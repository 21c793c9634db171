"""The tests' own ID numbers: ``tests.support.new_id_number`` never gives one twice in a process. A
long test worker (thousands of tests, hypothesis among them) went past the old formula's period of
21,000 numbers, and a later test's person then had an earlier one's number under another name: a
``name_mismatch`` where the test expected none (seen once in CI, in an import test)."""

from __future__ import annotations

from tests.support import new_id_number

from xinyong.privacy.identity import check


def test_thirty_thousand_numbers_in_a_row_are_valid_and_distinct() -> None:
    numbers = [new_id_number() for _ in range(30_000)]
    assert len(set(numbers)) == len(numbers)
    assert all(check(n).number == n for n in numbers[::997])  # (check raises on an invalid one)
