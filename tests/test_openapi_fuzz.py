"""Schemathesis against the OpenAPI schema, in process (security.md: no 5xx, responses match the
schema, bad inputs are rejected), as a department system's key.

Driven through schemathesis's Python API (each operation's hypothesis strategy inside an ordinary
test) rather than its pytest plugin, whose fixture loader does not work with pytest 9; this also
lets the test use the per-test database that is rolled back afterwards.
"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance
from tests.support import SYSTEM

from xinyong.catalog.service import load_default

CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def test_every_operation_never_fails_and_matches_its_schema(app, world, db):  # type: ignore[no-untyped-def]
    with db.session() as s:
        load_default(s, actor=SYSTEM)
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    headers = {"Authorization": f"Bearer {world.key_a}"}
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
        tested.append(operation.label)
    assert any("/api/v1/records" in label for label in tested), tested
    assert len(tested) >= 15
