"""The simulator: its second venue, a price per market each step, the oracle within a few bps of noise and now and
then a dislocation past 50 bps for a handful of steps; its own venue, makers' ladders around each tick that the
traders' orders walk, their orders on `orders.events` and fills naming them, from which the orders' fold builds the
book a reader of `books` holds; the same events for the same seed."""

import copy
from decimal import Decimal

from quantdesk.kafka.publisher import Keyed
from quantdesk.markets import MAKER_FEE_RATE, OUR_VENUE, TAKER_FEE_RATE
from quantdesk.messages import INPUT_MODELS, BookUpdate, Fill, OrderEvent, VenuePrice
from quantdesk.settings import Settings
from streams.domain.books import Level, LevelBook
from streams.domain.orders import Orders, apply_key
from streams.domain.resting import RestingBooks
from streams.sources.makers import LEVELS
from streams.sources.simulator import DISLOCATION_EVERY, NOISE_CAP_BPS, VENUE, VENUE_LEVELS, Simulator

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
    assert [[e for e in events if e[0] != "venues.prices" and e[2].get("venue") != VENUE] for events in with_venue
            ] == without  # its prices, and its book
    assert run(Settings(), 50, seed=12) != run(Settings(), 50, seed=11)
    for events in with_venue[:5]:
        for topic, _, event in events:
            INPUT_MODELS[topic].model_validate(event)


def ladders(sim: Simulator, market: str, oracle: Decimal) -> dict[str, dict[Decimal, Decimal]]:
    """Return every maker's whole ladder around `oracle` as size per price, per side, worked from its quoting."""
    out: dict[str, dict[Decimal, Decimal]] = {"bid": {}, "ask": {}}
    for quoting in sim.books[market].quotings:
        for side, price, size in quoting.ladder(*quoting.touch(oracle)):
            out[side][price] = out[side].get(price, Decimal(0)) + size
    return out


def read_books(steps: list[list[Keyed]], venue: str = OUR_VENUE) -> list[dict[str, LevelBook]]:
    """Return, after each step, every market's book on `venue` as a reader of `books` holds it (snapshot, then
    deltas); our venue's `books` messages are the orders' fold of the step's order events and fills, as the orders
    agent makes them."""
    readers: dict[str, LevelBook] = {}
    orders, resting = Orders(), RestingBooks()
    out = []
    for step in steps:
        events = step
        if venue == OUR_VENUE:
            events = [("books", u.market, u.model_dump(mode="json")) for u in ours(step, orders, resting)]
        for topic, key, event in events:
            if topic != "books" or event["venue"] != venue:
                continue
            update = BookUpdate.model_validate(event)
            assert key == update.market and update.ts == step[0][2]["ts"]
            book = readers.setdefault(update.market, LevelBook(update.market, update.venue))
            bids = [Level(lv.price, lv.size, lv.orders) for lv in update.bids]
            asks = [Level(lv.price, lv.size, lv.orders) for lv in update.asks]
            if update.kind == "snapshot":
                assert book.apply_snapshot(update.seq, update.ts, bids, asks) == "applied"
            else:
                assert book.apply_levels(update.seq, update.ts, bids, asks) == "applied"  # seq contiguous
        out.append({m: copy.deepcopy(b) for m, b in readers.items()})
    return out


def ours(events: list[Keyed], orders: Orders, resting: RestingBooks) -> list[BookUpdate]:
    """Return the `books` messages of our venue that a step's order events and fills make, none refused."""
    steps = [OrderEvent.model_validate(e) if t == "orders.events" else Fill.model_validate(e)
             for t, _, e in events if t in ("orders.events", "trades.fills")]
    out = []
    for step in sorted(steps, key=apply_key):
        outcome = orders.apply(step)
        if outcome is not None:
            assert outcome.state is not None, outcome.refused
            if (update := resting.take(outcome.state)) is not None:
                out.append(update)
    return out


def test_the_makers_ladders_stand_around_each_tick_and_the_traders_fills_take_from_them() -> None:
    """The book a reader holds after a step, plus what the step's taker fills took, is exactly both makers' whole
    ladders around the step's oracle: every fill's price is a level on the book that step, and the book moved by
    the fills and by nothing else."""
    sim = Simulator(Settings(), START_MS, 11)
    steps = [sim.step() for _ in range(600)]
    moved = set()
    for events, books in zip(steps, read_books(steps)):
        oracle = {e["market"]: Decimal(e["price"]) for t, _, e in events if t == "oracle.ticks"}
        fills = [e for t, _, e in events if t == "trades.fills"]
        for market, book in books.items():
            held = {"bid": dict((lv.price, lv.size) for lv in book.bids.top(100)),
                    "ask": dict((lv.price, lv.size) for lv in book.asks.top(100))}
            for fill in (f for f in fills if f["market"] == market and f["liquidity"] == "taker"):
                side = "ask" if fill["side"] == "buy" else "bid"
                held[side][Decimal(fill["price"])] = held[side].get(Decimal(fill["price"]), 0) + Decimal(fill["size"])
            assert held == ladders(sim, market, oracle[market]), (events[0][2]["ts"], market)
            assert max(held["bid"]) < oracle[market] < min(held["ask"]) and not book.crossed
            assert len(held["bid"]) >= LEVELS and len(held["ask"]) >= LEVELS
            moved.add((market, max(held["bid"])))
    assert len(moved) > 10 * len(sim.markets)  # the ladders follow the price


def test_a_market_order_walks_the_book_best_first_and_its_makers_fill_the_other_side() -> None:
    sim = Simulator(Settings(), START_MS, 11)
    walks: dict[tuple[int, str, str], list[dict]] = {}  # a step's fills of one account in one market
    makers = {m.wallet for m in sim.makers}
    for _ in range(1500):
        for topic, _, event in sim.step():
            if topic == "trades.fills":
                walks.setdefault((event["slot"], event["wallet"], event["market"]), []).append(event)
    deep = 0
    for (_, wallet, _), fills in walks.items():
        if wallet in makers:
            continue
        prices = [Decimal(f["price"]) for f in fills]
        buy = fills[0]["side"] == "buy"
        assert prices == sorted(prices, reverse=not buy)  # each level worse than the one before
        deep += len(set(prices)) > 1
        for fill in fills:
            assert Decimal(fill["fee"]) == (Decimal(fill["size"]) * Decimal(fill["price"]) * TAKER_FEE_RATE).quantize(
                Decimal("0.000001"))
    assert deep > 50  # many orders take more than one level
    every = [e for fills in walks.values() for e in fills]
    takers = sorted((f["id"].replace("taker", "*"), f["size"], f["price"]) for f in every if f["liquidity"] == "taker")
    made = sorted((f["id"].replace("maker", "*"), f["size"], f["price"]) for f in every if f["liquidity"] == "maker")
    assert takers == made  # a maker's fill per taker fill, same size and price
    assert {f["wallet"] for f in every if f["liquidity"] == "maker"} == makers
    assert all(Decimal(f["fee"]) < 0 for f in every if f["liquidity"] == "maker") and MAKER_FEE_RATE < 0


def test_the_makers_orders_and_the_fills_naming_them_fold_into_the_venue_s_own_book_at_every_step() -> None:
    sim = Simulator(Settings(), START_MS, 11)
    orders, resting = Orders(), RestingBooks()
    kinds: set[str] = set()
    for _ in range(300):
        events = sim.step()
        kinds |= {e["kind"] for t, _, e in events if t == "orders.events"}
        makers = {f["order"] for t, _, f in events if t == "trades.fills" and f["liquidity"] == "maker"}
        assert all(f.get("order") is None for t, _, f in events if t == "trades.fills" and f["liquidity"] == "taker")
        ours(events, orders, resting)  # none refused: each fill fits its order, each cancellation an open one
        assert all(orders.histories[o].order is not None for o in makers)
        assert all(e[0] != "books" or e[2]["venue"] != OUR_VENUE for e in events)  # the orders agent's to publish
        for market, venue in sim.books.items():
            book = resting.books[market]
            assert (book.bids.top(100), book.asks.top(100)) == (venue.book.bids.top(100), venue.book.asks.top(100))
            assert sorted(book.orders()) == sorted(venue.book.orders())
    assert kinds == {"placed", "cancelled"}
    closed = [(h.order.status, bool(h.order.filled_size)) for h in orders.histories.values() if h.order]
    assert ("filled", True) in closed and ("cancelled", True) in closed  # taken whole; refilled after a part


def test_a_simulator_started_again_goes_on_with_the_orders_and_ids_one_never_stopped_has() -> None:
    whole = run(Settings(), 100, seed=11)
    again = Simulator(Settings(), START_MS, 11)
    again.skip(60)
    assert [again.step() for _ in range(40)] == whole[60:]  # its orders' ids too: it cancels what the first placed


def test_the_order_flow_leaves_ticks_fills_and_changes_as_they_were() -> None:
    with_books = run(Settings(), 300, seed=11)
    without = run(Settings(simulator_books=False), 300, seed=11)

    def unnamed(event: dict) -> dict:
        return {k: v for k, v in event.items() if k != "order"}
    assert [[(t, k, unnamed(e)) for t, k, e in events if t not in ("books", "orders.events")]
            for events in with_books] == without
    assert all(e[0] not in ("books", "orders.events") and "order" not in e[2] for events in without for e in events)


def test_the_second_venue_publishes_a_whole_book_each_step_from_its_bid_and_ask() -> None:
    steps = run(Settings(), 200, seed=11)
    for n, (events, books) in enumerate(zip(steps, read_books(steps, VENUE)), 1):
        quoted = {e["market"]: VenuePrice.model_validate(e) for t, _, e in events if t == "venues.prices"}
        for market, book in books.items():
            assert book.seq == n and book.ts == events[0][2]["ts"] and book.bbo().healthy
            bids, asks = book.bids.top(100), book.asks.top(100)
            assert len(bids) == len(asks) == VENUE_LEVELS
            assert (bids[0].price, asks[0].price) == (quoted[market].bid, quoted[market].ask)
            assert {b.price - a.price for a, b in zip(bids[1:], bids)} == {(asks[0].price - bids[0].price) / 2}
    assert [[e for e in events if e[0] == "venues.prices"] for events in run(Settings(simulator_books=False), 50, 11)
            ] == [[e for e in events if e[0] == "venues.prices"] for events in steps[:50]]  # as without its book
