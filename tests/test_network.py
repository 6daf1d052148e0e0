"""Offline, the Hub is given up on at once (``core/network.py``), not after retries."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from ftwizard.core import network
from ftwizard.core.errors import UserError
from ftwizard.core.models import source as model_source


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    network.hub_reachable.cache_clear()
    yield
    network.hub_reachable.cache_clear()


def test_a_listening_host_is_reachable_and_a_closed_port_is_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
        assert network.hub_reachable()
    network.hub_reachable.cache_clear()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")  # closed now
    assert not network.hub_reachable()
    network.hub_reachable.cache_clear()
    monkeypatch.setenv("HF_ENDPOINT", "https://no-such-host.invalid")
    assert not network.hub_reachable()


def test_an_unreachable_hub_is_not_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    """huggingface_hub would retry for ~25 s; the answer comes without calling it."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", "https://no-such-host.invalid")

    def never(*_: object) -> None:
        raise AssertionError("the Hub was asked")

    monkeypatch.setattr(model_source, "_from_hub", never)
    with pytest.raises(UserError, match="cannot be reached from this machine"):
        model_source.resolve_model_facts("someorg/not-cached-7b")


def test_a_hub_dataset_is_asked_of_the_cache_alone_when_the_hub_is_unreachable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`datasets` would retry for ~25 s too; offline mode makes it answer from its cache."""
    datasets = pytest.importorskip("datasets")
    from ftwizard.core.data.hub import hub_items

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # restored after the test
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", "https://no-such-host.invalid")
    asked_offline = []

    def load_dataset(*_: object, **__: object) -> None:
        asked_offline.append(datasets.config.HF_HUB_OFFLINE)
        raise FileNotFoundError("not in the cache")

    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(UserError, match="no-such-host.invalid cannot be reached"):
        list(hub_items("someorg/not-cached", None, "train"))
    assert asked_offline == [True]
