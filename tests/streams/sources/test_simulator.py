"""The simulator's second venue: a price per market each step, the oracle within a few bps of noise, and now and
then a dislocation past 50 bps for a handful of steps, the same for the same seed."""

from decimal import Decimal

from quantdesk.kafka.publisher import Keyed
from quantdesk.messages import INPUT_MODELS, VenuePrice
from quantdesk.settings import Settings
from streams.sources.simulator import DISLOCATION_EVERY, NOISE_CAP_BPS, VENUE, Simulator

START_MS = 1_767_225_600_000
STEPS = 3000


def run(settings: Settings, steps: int, seed: int | None = None) -> list[list[Keyed]]:
    """Return the events of each of `steps` steps."""
    sim = Simulator(settings, START_MS, seed)
    return [sim.step() for _ in range(steps)]


def offsets(steps: list[list[Keyed]]) -> dict[str, list[Decimal]]:
    """Return, per market and step, the venue's price against that step's oracle tick, in bps."""
    out: dict[str, list[Decimal]] = {}
    for events in steps:
        oracle = {e["market"]: Decimal(e["price"]) for t, _, e in events if t == "oracle.ticks"}
        for topic, key, event in events:
            if topic == "venues.prices":
                price = VenuePrice.model_validate(event)
                assert key == price.market and price.ts == events[0][2]["ts"] and price.venue == VENUE
                assert price.bid is not None and price.ask is not None and price.bid < price.price < price.ask
                out.setdefault(price.market, []).append((price.price - oracle[price.market]) / oracle[price.market]
                                                        * 10_000)
    return out


def episodes(bps: list[Decimal]) -> list[int]:
    """Return the steps at which the venue moved more than 50 bps away (the first step of each run)."""
    return [n for n, b in enumerate(bps) if abs(b) > 50 and (n == 0 or abs(bps[n - 1]) <= 50)]


def test_every_step_prices_every_market_on_the_second_venue_and_tracks_the_oracle_within_the_noise() -> None:
    settings = Settings()
    steps = run(settings, STEPS)
    by_market = offsets(steps)
    assert sorted(by_market) == sorted(settings.market_names)
    for market, bps in by_market.items():
        assert len(bps) == STEPS
        calm = [abs(b) for b in bps if abs(b) <= 50]
        assert len(calm) > 0.9 * STEPS and max(calm) < Decimal(str(NOISE_CAP_BPS)) + Decimal("0.2"), market
        assert sum(calm) / len(calm) < 3  # a couple of bps on average
    ids = [e["id"] for events in steps for t, _, e in events if t == "venues.prices"]
    assert len(set(ids)) == len(ids) and ids[0] == "sim:venue:BTC-PERP:1:0"


def test_dislocations_past_50_bps_come_about_once_every_few_hundred_steps_and_soon_after_the_start() -> None:
    by_market = offsets(run(Settings(), STEPS))
    starts = {market: episodes(bps) for market, bps in by_market.items()}
    expected = STEPS / DISLOCATION_EVERY  # per market: 10
    assert all(expected / 3 <= len(s) <= expected * 2 for s in starts.values()), starts
    assert min(s[0] for s in starts.values()) * Settings().simulator_tick_ms < 60_000  # within a minute of `make run`
    for market, bps in by_market.items():
        for start in starts[market]:
            held = 0
            while start + held < len(bps) and abs(bps[start + held]) > 50:
                held += 1
            assert 1 <= held < 12 and all(abs(b) < 160 for b in bps[start:start + held]), (market, start)


def test_the_same_seed_gives_the_same_events_and_the_venue_leaves_the_rest_as_it_was() -> None:
    with_venue, again = run(Settings(), 400, seed=11), run(Settings(), 400, seed=11)
    assert with_venue == again
    without = run(Settings(simulator_venue_prices=False), 400, seed=11)
    assert [[e for e in events if e[0] != "venues.prices"] for events in with_venue] == without
    assert run(Settings(), 50, seed=12) != run(Settings(), 50, seed=11)
    for events in with_venue[:5]:
        for topic, _, event in events:
            INPUT_MODELS[topic].model_validate(event)
