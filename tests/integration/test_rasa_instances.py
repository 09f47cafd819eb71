"""Several Rasa instances behind the gateway (NEGOCIA_RASA_URL with commas): turns go to the least
busy instance, an instance that cannot be reached is passed over, and a turn that may have run is
never sent to a second instance."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.dialogue import STICKY_SLACK, DialogueUnavailable, RasaRestEngine, instance_order
from server.services.tracker_sync import RasaTrackerSync, Resume, TrackerSyncError
from server.settings import Settings
from tests.json_http import JsonServer
from tests.json_http import closed_port_url as closed_url


class FakeRasa:
    """A REST channel answering with its own name; records what it received."""

    def __init__(self, name: str, *, status: int = 200, delay_s: float = 0.0, model: bool = True) -> None:
        self.name = name

        def handle(method: str, path: str, body: Any) -> tuple[int, Any]:
            if method == "GET":  # /status
                return 200, {"model_file": "m.tar.gz" if model else None}
            time.sleep(delay_s)
            message = body.get("message") if isinstance(body, dict) else None
            return status, [{"recipient_id": "x", "text": f"{name}: {message}"}]

        self._server = JsonServer(handle)
        self.url = self._server.url

    @property
    def received(self) -> list[tuple[str, Any]]:
        return [(path, body) for method, path, body in self._server.requests if method == "POST"]

    def stop(self) -> None:
        self._server.close()


@pytest.fixture
def pair() -> Iterator[tuple[FakeRasa, FakeRasa]]:
    a, b = FakeRasa("a"), FakeRasa("b")
    yield a, b
    a.stop()
    b.stop()


def test_settings_read_several_instances() -> None:
    settings = Settings(_env_file=None, rasa_url=" http://h1:5005 , http://h2:5006,")  # type: ignore[call-arg]
    assert settings.resolved_rasa_urls == ["http://h1:5005", "http://h2:5006"]
    one = Settings(_env_file=None, rasa_port=5010)  # type: ignore[call-arg]
    assert one.resolved_rasa_urls == ["http://127.0.0.1:5010"]


def test_instance_order_tries_every_instance_once_starting_from_a_stable_one() -> None:
    for sender in ("c1", "c2", "abc"):
        order = instance_order(sender, 3)
        assert sorted(order) == [0, 1, 2]
        assert order == instance_order(sender, 3)
    assert {instance_order(f"c{i}", 2)[0] for i in range(20)} == {0, 1}


def test_concurrent_turns_spread_over_the_instances_by_load() -> None:
    a, b = FakeRasa("a", delay_s=0.3), FakeRasa("b", delay_s=0.3)
    engine = RasaRestEngine([a.url, b.url])
    # Every conversation's hash picks the first instance: only the load can send one to b.
    senders = [f"c{i}" for i in range(50) if instance_order(f"c{i}", 2)[0] == 0][:6]
    try:
        with ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda s: engine.send(s, "oi", {})[0].text, senders))
    finally:
        engine.close()
        a.stop()
        b.stop()
    assert sorted(replies) == ["a: oi"] * 3 + ["b: oi"] * 3
    assert len(a.received) + len(b.received) == 6  # every turn sent exactly once


def test_a_conversation_keeps_its_last_instance_while_it_is_at_most_the_slack_busier(
    pair: tuple[FakeRasa, FakeRasa],
) -> None:
    """A conversation's next turn goes where its last one ran (Rasa kept its tracker there) while
    that instance has at most STICKY_SLACK more turns in flight than the other; beyond, by load.
    Turns in flight are other conversations' turns, counted as the engine counts them."""
    a, b = pair
    engine = RasaRestEngine([a.url, b.url])
    sender = next(f"c{i}" for i in range(50) if instance_order(f"c{i}", 2)[0] == 1)  # hash: b
    try:
        engine._in_flight[1] += 1  # b busier: the first turn goes to a
        assert engine.send(sender, "t0", {})[0].text == "a: t0"
        engine._in_flight[1] -= 1
        for busy in range(1, STICKY_SLACK + 1):
            engine._in_flight[0] += busy
            assert engine.send(sender, f"t{busy}", {})[0].text == f"a: t{busy}"  # kept on a
            engine._in_flight[0] -= busy
        engine._in_flight[0] += STICKY_SLACK + 1
        assert engine.send(sender, "longe", {})[0].text == "b: longe"  # a too busy: moved to b
        engine._in_flight[0] -= STICKY_SLACK + 1
        assert engine.send(sender, "depois", {})[0].text == "b: depois"  # and kept there
        assert engine._in_flight == [0, 0]
    finally:
        engine.close()


def test_a_quiet_conversation_stays_on_one_instance(pair: tuple[FakeRasa, FakeRasa]) -> None:
    a, b = pair
    engine = RasaRestEngine([a.url, b.url])
    try:
        for turn in range(5):
            engine.send("c7", f"t{turn}", {})
    finally:
        engine.close()
    home = (a, b)[instance_order("c7", 2)[0]]
    assert [body["message"] for _path, body in home.received] == [f"t{turn}" for turn in range(5)]


def test_a_conversation_moves_to_another_instance_only_while_its_own_is_down(
    pair: tuple[FakeRasa, FakeRasa],
) -> None:
    a, _b = pair
    down = closed_url()
    engine = RasaRestEngine([down, a.url])
    sender = next(f"c{i}" for i in range(50) if instance_order(f"c{i}", 2)[0] == 0)  # homed on `down`
    try:
        assert engine.send(sender, "oi", {})[0].text == "a: oi"
        assert engine.send(sender, "de novo", {})[0].text == "a: de novo"  # `down` now tried last
        assert [body["sender"] for _path, body in a.received] == [sender, sender]
        assert engine.is_ready()  # one instance up is enough to take every conversation
    finally:
        engine.close()
    everything_down = RasaRestEngine([closed_url(), closed_url()])
    try:
        with pytest.raises(DialogueUnavailable):
            everything_down.send(sender, "oi", {})
        assert not everything_down.is_ready()
    finally:
        everything_down.close()


@pytest.mark.parametrize("failure", ["error", "timeout"])
def test_a_turn_that_reached_its_instance_is_not_sent_to_another(failure: str) -> None:
    home = FakeRasa("home", status=500) if failure == "error" else FakeRasa("home", delay_s=1.0)
    other = FakeRasa("other")
    engine = RasaRestEngine([home.url, other.url], timeout_s=0.3)
    sender = next(f"c{i}" for i in range(50) if instance_order(f"c{i}", 2)[0] == 0)
    try:
        with pytest.raises(DialogueUnavailable):
            engine.send(sender, "sim", {})
        assert len(home.received) == 1
        assert other.received == []  # it may have run there: the gateway's retry decides
    finally:
        engine.close()
        home.stop()
        other.stop()


def test_an_instance_without_its_model_is_not_ready() -> None:
    loading = FakeRasa("loading", model=False)
    engine = RasaRestEngine([loading.url])
    try:
        assert not engine.is_ready()
    finally:
        engine.close()
        loading.stop()


def test_tracker_sync_reaches_the_conversation_through_any_live_instance(
    pair: tuple[FakeRasa, FakeRasa],
) -> None:
    a, _b = pair
    sender = next(f"c{i}" for i in range(50) if instance_order(f"c{i}", 2)[0] == 0)
    sync = RasaTrackerSync([closed_url(), a.url], token="t0k")
    try:
        sync.resume(sender, Resume())
    finally:
        sync.close()
    assert [path.split("?")[0] for path, _body in a.received] == [f"/conversations/{sender}/tracker/events"]
    dead = RasaTrackerSync([closed_url()])
    try:
        with pytest.raises(TrackerSyncError):
            dead.resume(sender, Resume())
    finally:
        dead.close()
