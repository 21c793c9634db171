"""The runtime settings of xinyong's long-running processes (``xinyong.runtime``)."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from xinyong import runtime


@pytest.fixture(autouse=True)
def _restore_thresholds() -> Iterator[None]:
    saved = gc.get_threshold()
    yield
    gc.set_threshold(*saved)


def test_the_youngest_threshold_is_raised_and_the_older_two_kept(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.delenv(runtime.GC_THRESHOLD0_ENV, raising=False)
    gc.set_threshold(700, 11, 12)
    assert runtime.configure_gc() == runtime.GC_THRESHOLD0
    assert gc.get_threshold() == (runtime.GC_THRESHOLD0, 11, 12)


def test_an_operator_sets_it_back(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(runtime.GC_THRESHOLD0_ENV, "700")
    assert runtime.configure_gc() == 700 and gc.get_threshold()[0] == 700


@pytest.mark.parametrize("raw", ["zero", "0", "-5", "1.5"])
def test_a_bad_override_is_named_and_the_default_used(monkeypatch, caplog, raw):  # type: ignore[no-untyped-def]
    monkeypatch.setenv(runtime.GC_THRESHOLD0_ENV, raw)
    with caplog.at_level(logging.WARNING, logger="xinyong.runtime"):
        assert runtime.configure_gc() == runtime.GC_THRESHOLD0
    assert runtime.GC_THRESHOLD0_ENV in caplog.text and repr(raw) in caplog.text


def test_the_served_app_runs_with_the_settings_and_a_frozen_start_up_heap(monkeypatch):  # type: ignore[no-untyped-def]
    from xinyong import app as app_module
    from xinyong import cli

    monkeypatch.delenv(runtime.GC_THRESHOLD0_ENV, raising=False)
    monkeypatch.setattr(app_module, "create_app", lambda: "the app")
    monkeypatch.setattr(cli, "_configure_logging", lambda: None)  # the process's logging stays the tests'
    gc.set_threshold(700, 10, 10)
    try:
        assert cli.create_served_app() == "the app"
        assert gc.get_threshold()[0] == runtime.GC_THRESHOLD0
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


def test_the_command_line_runs_with_the_settings(monkeypatch):  # type: ignore[no-untyped-def]
    from xinyong import cli

    monkeypatch.delenv(runtime.GC_THRESHOLD0_ENV, raising=False)
    seen = []
    monkeypatch.setattr(cli, "app", lambda **_kw: seen.append(gc.get_threshold()[0]))
    gc.set_threshold(700, 10, 10)
    cli.main()
    assert seen == [runtime.GC_THRESHOLD0]
