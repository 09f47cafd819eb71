"""`negocia serve` freezes its startup heap; an app built for tests or embedding leaves gc alone."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from server import gc_tuning
from server.container import Container
from server.main import create_app


@pytest.fixture
def clean_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    gc.unfreeze()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


@pytest.mark.usefixtures("clean_gc")
def test_server_process_freezes_its_heap_after_startup(container: Container) -> None:
    app = create_app(container=container, freeze_heap_on_start=True)
    assert gc.get_freeze_count() == 0  # not before the lifespan started
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == gc_tuning.THRESHOLDS
        assert client.get("/healthz").status_code == 200


@pytest.mark.usefixtures("clean_gc")
def test_an_app_built_without_the_flag_leaves_gc_alone(container: Container) -> None:
    thresholds = gc.get_threshold()
    with TestClient(create_app(container=container)) as client:
        assert client.get("/healthz").status_code == 200
        assert gc.get_freeze_count() == 0
        assert gc.get_threshold() == thresholds
