"""The markets list's live figures: last funding rate, next funding time, and open interest from account states;
other venues' prices beside our mark; a market's live state never goes back in event time, nor freezes on a bad
stamp."""

from decimal import Decimal as D

from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse
from tests.api.conftest import RELAXED, client, gateway
from tests.api.held import HOUR_MS, T0, hold_markets, market_state, snapshot, venue_price


def migrated(settings: Settings) -> None:
    """Apply the migrations to the test's own database (the gateway reads it on start)."""
    warehouse = Warehouse.from_settings(settings)
    warehouse.migrate()
    warehouse.close()


async def test_markets_show_funding_and_open_interest_from_what_the_gateway_holds(settings: Settings) -> None:
    migrated(settings)
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        hold_markets(live, T0 + 90 * 60_000)  # newest event 01:30
        for event in (snapshot("a", 0, T0, "1000", ("SOL-PERP", "2", "100"), ("BTC-PERP", "-0.5", "97000")),
                      snapshot("a", 1, T0, "1000", ("SOL-PERP", "1.5", "101")),
                      snapshot("b", 0, T0, "1000", ("SOL-PERP", "-3.5", "99"), ("BTC-PERP", "0.5", "97000")),
                      snapshot("a", 0, T0 + 1, "1000", ("SOL-PERP", "1", "100")),  # a sells 1 SOL, closes BTC
                      snapshot("c", 0, T0, "1000", ("SOL-PERP", "1", "100")),
                      snapshot("c", 0, T0 - 1, "1000", ("SOL-PERP", "9", "100"))):  # older than held: ignored
            live.apply("accounts.state", event)
        body = {m["market"]: m for m in (await http.get("/api/v1/markets")).json()}
    # SOL longs: a:0 1 + a:1 1.5 + c:0 1 = 3.5 (the shorts: b 3.5), at the oracle 100; BTC: b's 0.5 at 97000
    sol, btc, eth = body["SOL-PERP"], body["BTC-PERP"], body["ETH-PERP"]
    assert (D(sol["open_interest"]), D(sol["open_interest_notional"])) == (D("3.5"), 350)
    assert (D(btc["open_interest"]), D(btc["open_interest_notional"])) == (D("0.5"), 48500)
    assert (D(eth["open_interest"]), eth["open_interest_notional"]) == (0, None)
    assert (D(sol["funding_rate"]), btc["funding_rate"]) == (D("0.0000125"), None)
    assert {m["next_funding_time"] for m in body.values()} == {T0 + 2 * HOUR_MS}


async def test_a_state_stamped_10_years_ahead_does_not_freeze_the_market(settings: Settings) -> None:
    migrated(settings)
    ahead = T0 + 10 * 365 * 86_400_000
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        for ts, price in ((T0, "100"), (ahead, "101"), (T0 + 1000, "102")):  # in the order the worker published
            live.apply("markets.state", {**market_state("SOL-PERP", ts, price, price), "tick_price": price})
        replayed = {**market_state("SOL-PERP", T0, "100", "100"), "tick_price": "100"}  # a restarted worker's
        assert not live.apply("markets.state", replayed)
        body = {m["market"]: m for m in (await http.get("/api/v1/markets")).json()}
    assert (D(body["SOL-PERP"]["oracle_price"]), body["SOL-PERP"]["updated_at"]) == (102, T0 + 1000)
    for resolution in ("1m", "1d"):
        bar = live.bars[("SOL-PERP", resolution)].view()
        assert bar is not None and bar["time"] == T0 and D(bar["close"]) == 102, (resolution, bar)


async def test_a_state_older_than_the_one_held_is_no_news_not_a_trip_back_through_history(settings: Settings) -> None:
    # a feed that replays what a restored broker was given back sends states whose ids the gateway no longer holds
    migrated(settings)
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        assert live.apply("markets.state", {**market_state("SOL-PERP", T0 + 1000, "102", "102"), "tick_price": "102"})
        history = {**market_state("SOL-PERP", T0, "100", "100"), "id": "replayed", "tick_price": "100"}
        assert not live.apply("markets.state", history)
        assert live.apply("markets.state", market_state("SOL-PERP", T0 + 1000, "103", "103") | {"id": "same time"})
        body = {m["market"]: m for m in (await http.get("/api/v1/markets")).json()}
    assert (D(body["SOL-PERP"]["oracle_price"]), body["SOL-PERP"]["updated_at"]) == (103, T0 + 1000)
    bar = live.bars[("SOL-PERP", "1m")].view()
    assert bar is not None and (D(bar["open"]), D(bar["low"])) == (102, 102)  # the old price in no candle


async def test_other_venues_show_their_last_price_its_event_time_age_and_spread_to_our_mark(settings: Settings) -> None:
    migrated(settings)
    now = T0 + 60_000
    async with gateway(settings, RELAXED) as app, client(app) as http:
        live = app.other_asgi_app.state.live
        hold_markets(live, now)  # SOL mark 100.5; hyperliquid 100.6 at now − 1 s
        for event in (venue_price("SOL-PERP", now + 400, "sim-venue", "99.5", "99.49", "99.51"),
                      venue_price("SOL-PERP", now - 5000, "sim-venue", "150"),  # older than held: ignored
                      venue_price("JUP-PERP", now, "sim-venue", "1"),  # not a listed market
                      venue_price("BTC-PERP", now - 250, "hyperliquid", "97000.000000000000000001")):
            live.apply("venues.prices", event)
        assert not live.apply("venues.prices", venue_price("SOL-PERP", now + 400, "sim-venue", "99.5"))  # again
        sol, btc, eth = [(await http.get(f"/api/v1/markets/{m}/venues")).json()
                         for m in ("SOL-PERP", "BTC-PERP", "ETH-PERP")]
        unknown = await http.get("/api/v1/markets/JUP-PERP/venues")
    assert (sol["market"], D(sol["mark_price"]), sol["as_of"]) == ("SOL-PERP", D("100.5"), now + 400)
    assert sol["venues"] == [
        {"venue": "hyperliquid", "price": "100.6", "bid": None, "ask": None, "ts": now - 1000, "age_ms": 1400,
         "spread_bps": "9.9502", "source": "test"},  # (100.6 − 100.5) / 100.5 = 9.95024… bps
        {"venue": "sim-venue", "price": "99.5", "bid": "99.49", "ask": "99.51", "ts": now + 400, "age_ms": 0,
         "spread_bps": "-99.5025", "source": "test"}]
    (quote,) = btc["venues"]  # measured from BTC's own newest event, its state at `now`
    assert (btc["as_of"], quote["age_ms"], quote["price"]) == (now, 250, "97000.000000000000000001")
    assert quote["spread_bps"] == "-1.0308"  # (97000 − 97010) / 97010: against its mark, degraded or not
    assert eth == {"market": "ETH-PERP", "mark_price": None, "as_of": None, "venues": []}
    assert unknown.status_code == 404 and "unknown market" in unknown.text
