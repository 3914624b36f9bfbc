"""The per-platform circuit breaker: opens on an outage, probes, closes on success."""

from __future__ import annotations

from gateway.turns.circuit import PROBE_RECHECK_S, Circuits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_it_opens_after_the_threshold_and_lets_one_probe_through_after_the_cooldown() -> None:
    clock = Clock()
    circuits = Circuits(threshold=3, cooldown_s=10, clock=clock)
    for _ in range(2):
        circuits.failed("whatsapp", "500")
    assert circuits.wait_s("whatsapp") == 0 and circuits.outages() == []
    circuits.failed("whatsapp", "500 HTTP 500")
    assert circuits.wait_s("whatsapp") == 10
    assert [(o.channel, o.reason) for o in circuits.outages()] == [("whatsapp", "500 HTTP 500")]
    assert circuits.wait_s("telegram") == 0  # one platform's outage holds no other
    clock.now += 10
    assert circuits.wait_s("whatsapp") == 0  # the probe
    assert circuits.wait_s("whatsapp") == PROBE_RECHECK_S  # the others look again soon
    clock.now += 0.5
    assert circuits.wait_s("whatsapp") == PROBE_RECHECK_S  # still out: no second probe
    circuits.succeeded("whatsapp")
    assert circuits.wait_s("whatsapp") == 0 and circuits.outages() == []


def test_a_failed_probe_doubles_the_wait_up_to_the_cap() -> None:
    clock = Clock()
    circuits = Circuits(threshold=1, cooldown_s=10, max_cooldown_s=25, clock=clock)
    circuits.failed("messenger", "503")
    circuits.failed("messenger", "503")  # a send already under way: no longer wait
    assert circuits.wait_s("messenger") == 10
    clock.now += 10
    assert circuits.wait_s("messenger") == 0
    circuits.failed("messenger", "503")
    assert circuits.wait_s("messenger") == 20
    clock.now += 20
    circuits.wait_s("messenger")
    circuits.failed("messenger", "503")
    assert circuits.wait_s("messenger") == 25


def test_an_outage_shows_in_readyz_and_metrics(tmp_path) -> None:
    from tests.e2e.conftest import start_stack

    stack, stop = start_stack(tmp_path, run=False)
    try:
        import requests

        assert requests.get(stack.url + "/readyz", timeout=5).json()["status"] == "ok"
        for _ in range(stack.gw.circuits.threshold):
            stack.gw.circuits.failed("whatsapp", "20500 HTTP 500 on message create")
        ready = requests.get(stack.url + "/readyz", timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "degraded"
        assert ready.json()["platforms_down"][0]["channel"] == "whatsapp"
        metrics = requests.get(stack.url + "/metrics", timeout=5).text
        assert 'gw_platform_down{channel="whatsapp"} 1.0' in metrics
        assert 'gw_platform_down{channel="telegram"} 0.0' in metrics
    finally:
        stop()
