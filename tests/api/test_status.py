"""Freshness by hand: each source's last event, its age by a given clock, healthy under the threshold (and neither
degraded nor a stale or crossed book); the status channel pushing only changes of health."""

from typing import Any

from api.live import LiveState
from api.status import status
from quantdesk.settings import Settings
from tests.api.held import T0, book, hold_markets
from tests.api.rooms import events, gateway_of, member

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")


def fill(ts: int, slot: int) -> dict[str, Any]:
    """Return a taker fill of SOL that came from the chain at `slot`."""
    return {"id": f"fill:{slot}", "ts": ts, "market": "SOL-PERP", "wallet": "w", "side": "buy", "size": "1",
            "price": "100", "slot": slot}


def held(live: LiveState) -> None:
    """Hold SOL healthy at T0 and BTC degraded (ETH unpriced), Hyperliquid's SOL price at T0 − 1 s, fills up to slot
    900 (the newest at T0 + 2 s), Hyperliquid's SOL book at T0 + 0.5 s and our crossed one."""
    hold_markets(live, T0)
    for event in (fill(T0 + 2000, 900), fill(T0 + 3000, 800), fill(T0 + 1000, 0)):
        assert live.apply("trades.fills", event)
    assert live.apply("books", book("hyperliquid", "SOL-PERP", 1, T0 + 500, bids=(("99", "1"),), asks=(("101", "1"),)))
    assert live.apply("books", book("quantdesk", "SOL-PERP", 1, T0 + 500, bids=(("101", "1"),), asks=(("100", "1"),)))


def test_each_source_has_its_last_event_its_age_and_its_health() -> None:
    live = LiveState(MARKETS)
    held(live)
    now = status(live, T0 + 10_000, 30_000)
    assert (now.as_of, now.max_age_ms, now.healthy) == (T0 + 10_000, 30_000, False)
    assert [(s.source, s.slot, s.ts, s.age_ms, s.healthy, s.reason) for s in now.sources] == [
        ("chain", 900, T0 + 2000, 8000, True, ""),  # the highest slot, not the newest fill
        ("oracle:BTC-PERP", None, T0, 10_000, False, "degraded: status is 'halted', not trading"),
        ("oracle:ETH-PERP", None, None, None, False, "no event yet"),
        ("oracle:SOL-PERP", None, T0, 10_000, True, ""),
        ("book:SOL-PERP:hyperliquid", None, T0 + 500, 9500, True, ""),
        ("book:SOL-PERP:quantdesk", None, T0 + 500, 9500, False, "crossed: best bid 101 >= best ask 100"),
        ("prices:SOL-PERP:hyperliquid", None, T0 - 1000, 11_000, True, "")]
    later = {s.source: s for s in status(live, T0 + 29_500, 30_000).sources}  # the price is 30.5 s old
    assert (later["oracle:SOL-PERP"].healthy, later["prices:SOL-PERP:hyperliquid"].reason) == (
        True, "no update for 30500 ms")
    assert later["book:SOL-PERP:hyperliquid"].healthy and not later["prices:SOL-PERP:hyperliquid"].healthy


async def test_the_status_channel_pushes_only_the_sources_whose_health_changed(settings: Settings) -> None:
    gateway = gateway_of(settings.model_copy(update={"status_max_age_ms": 30_000}))
    clock = [T0 + 10_000]
    watch = gateway.status
    watch.clock = lambda: clock[0]
    held(gateway.live)
    socket = await member(gateway, "s", "status")
    await watch.check()  # against the check made when the gateway started, no source held: 5 changed
    [(name, first)] = list(events(socket))
    assert (name, first["seq"]) == ("status", 1)
    assert [(c["source"], c["healthy"]) for c in first["data"]["changes"]] == [
        ("chain", True), ("oracle:SOL-PERP", True), ("book:SOL-PERP:hyperliquid", True),
        ("book:SOL-PERP:quantdesk", False), ("prices:SOL-PERP:hyperliquid", True)]  # BTC, ETH: unhealthy still
    assert watch.snapshot()["as_of"] == T0 + 10_000
    clock[0] = T0 + 20_000  # older, but still under 30 s: no change, no push
    await watch.check()
    assert list(events(socket)) == []
    clock[0] = T0 + 29_500  # Hyperliquid's price is 30.5 s old
    await watch.check()
    [(_, change)] = list(events(socket))
    assert [(c["source"], c["healthy"], c["reason"]) for c in change["data"]["changes"]] == [
        ("prices:SOL-PERP:hyperliquid", False, "no update for 30500 ms")]
    assert (change["seq"], change["data"]["as_of"], change["data"]["healthy"]) == (2, T0 + 29_500, False)
    assert gateway.live.apply("books", book("quantdesk", "SOL-PERP", 2, T0 + 29_000, bids=(("99", "1"),)))
    await watch.check()  # our book uncrossed by a new snapshot
    [(_, healed)] = list(events(socket))
    assert [(c["source"], c["healthy"]) for c in healed["data"]["changes"]] == [("book:SOL-PERP:quantdesk", True)]
