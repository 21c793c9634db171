"""Schemathesis against the imports routes, in-process: no 5xx, responses match the OpenAPI schema.

(``positive_data_acceptance`` is left out: a schema-valid form can still name an unknown item or
carry a file that is not CSV/XLSX, and that is a documented 422.)"""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance


def test_imports_routes_match_their_schema(app, world, catalog_loaded) -> None:  # type: ignore[no-untyped-def]
    from xinyong.imports.api import runner_of

    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operations = [r.ok() for r in schema.include(path_regex="^/api/v1/imports").get_all_operations()]
    assert len(operations) == 7
    for op in operations:

        @given(op.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case) -> None:  # type: ignore[no-untyped-def]
            resp = case.call(headers=world.bearer(world.key_a))
            runner_of(app).wait()
            assert resp.status_code < 500, (case.method, case.path, resp.status_code, resp.text[:300])
            case.validate_response(resp, excluded_checks=[positive_data_acceptance])

        check()
