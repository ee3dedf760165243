"""``/metrics`` text: Redis's figures appear only for a server that uses Redis, with their Prometheus types."""

from __future__ import annotations

from vizserver.streaming.metrics import Counters, RedisFigures, exposition


def _samples(text: str) -> dict[str, str]:
    return dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))


def test_a_server_without_redis_shows_no_redis_figures() -> None:
    assert "vizserver_redis" not in exposition(Counters(), 1, [])


def test_redis_down_shows_up_0_with_its_outages_and_the_sessions_waiting_to_be_saved() -> None:
    figures = RedisFigures(up=False, outages=2, store_writes=7, store_write_failures=1, unsaved_sessions=3)
    text = exposition(Counters(), 1, [], figures)
    samples = _samples(text)
    assert samples["vizserver_redis_up"] == "0"
    assert samples["vizserver_redis_outages_total"] == "2"
    assert samples["vizserver_redis_store_writes_total"] == "7"
    assert samples["vizserver_redis_store_write_failures_total"] == "1"
    assert samples["vizserver_redis_unsaved_sessions"] == "3"
    assert "# TYPE vizserver_redis_up gauge" in text and "# TYPE vizserver_redis_outages_total counter" in text
    assert _samples(exposition(Counters(), 1, [], RedisFigures(True, 2, 7, 1, 0)))["vizserver_redis_up"] == "1"
