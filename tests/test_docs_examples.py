"""The ID numbers in the guides' examples are valid ones: a department's developer who copies a curl
command from docs/integration.md gets the answer it shows, not a 422 for a wrong check digit."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest

from xinyong.privacy import identity

ROOT = Path(__file__).resolve().parents[1]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
ID_LIKE = re.compile(r"(?<![0-9A-Za-z])[1-9][0-9]{16}[0-9Xx](?![0-9A-Za-z])")


def test_the_guides_hold_examples() -> None:
    assert any(ID_LIKE.search(p.read_text(encoding="utf-8")) for p in DOCS)


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_example_id_number_in_the_guides_is_valid(path: Path) -> None:
    for number in ID_LIKE.findall(path.read_text(encoding="utf-8")):
        identity.check(number, date(2026, 11, 26))  # raises InvalidIdNumber, naming why
