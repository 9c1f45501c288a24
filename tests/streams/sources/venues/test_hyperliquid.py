"""Hyperliquid's allMids and l2Book feeds, from a local server speaking their wire format, onto the real broker: our
coins' mids and books exactly, other coins ignored, a book no newer or unchanged dropped, what cannot be read
dead-lettered with its reason, a dropped or silent connection made again and subscribed again, pings answered."""

import time
from decimal import Decimal
from typing import Any

import orjson
import pytest

from quantdesk.messages import BookLevel, BookUpdate, DeadLetter, VenuePrice, dump
from quantdesk.settings import Settings
from streams.domain.books import Level, LevelBook
from streams.sources.ingest.service import ingest_running
from streams.sources.venues.adapter import Update
from streams.sources.venues.hyperliquid import MESSAGE_BYTES, SUBSCRIBE, Feed, book_subscription
from tests.streams.sources.ingest.conftest import metric, metrics_text, pointed_at, read_topic
from tests.streams.sources.venues.fake_hyperliquid import GREETING, FakeHyperliquid, all_mids, l2_book
from tests.waiting import eventually

COINS = {"BTC": "BTC-PERP", "ETH": "ETH-PERP", "SOL": "SOL-PERP"}
SUBSCRIPTIONS = [SUBSCRIBE, *(book_subscription(coin) for coin in COINS)]


def hyperliquid(sessions: list[list[dict[str, Any] | str]], **options: Any) -> FakeHyperliquid:
    """Return a fake Hyperliquid that sends each connection's script once it holds all our subscriptions."""
    return FakeHyperliquid(sessions, subscriptions=len(SUBSCRIPTIONS), **options)


def venue_settings(settings: Settings, fake: FakeHyperliquid, **extra: Any) -> Settings:
    """Return ingest settings pointing at the fake Hyperliquid, for our coins."""
    return pointed_at(settings, hyperliquid_ws_url=fake.url, hyperliquid_markets=COINS, **extra)


async def at_least(settings: Settings, topic: str, count: int) -> list[dict[str, Any]]:
    """Return a topic's events once there are at least `count`."""
    found = await read_topic(settings, topic)
    return found if len(found) >= count else []


async def test_our_coins_mids_arrive_exactly_and_other_coins_are_ignored(settings: Settings) -> None:
    mids = {"BTC": "97012.123456", "ETH": "3201.2", "SOL": "150.000000000000000001", "PURR/USDC": "0.2",
            "@107": "35.1", "DOGE": "0.12"}
    fake = await hyperliquid([[all_mids(mids)]]).start()
    try:
        cfg = venue_settings(settings, fake)
        before = time.time_ns() // 1_000_000
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            prices = await eventually(lambda: at_least(cfg, "venues.prices", 3), what="the three mids")
            text = await metrics_text(cfg)
        after = time.time_ns() // 1_000_000
    finally:
        await fake.stop()
    assert fake.received[:4] == SUBSCRIPTIONS == [
        {"method": "subscribe", "subscription": {"type": "allMids"}},
        *({"method": "subscribe", "subscription": {"type": "l2Book", "coin": coin}} for coin in ("BTC", "ETH", "SOL"))]
    by_market = {p["market"]: p for p in prices}
    assert sorted(by_market) == ["BTC-PERP", "ETH-PERP", "SOL-PERP"] and len(prices) == 3
    for coin, market in COINS.items():
        raw = by_market[market]
        assert raw["price"] == mids[coin]  # the decimal string as sent: no float on the way
        price = VenuePrice.model_validate(raw)
        assert (price.venue, price.source, price.price, price.bid) == ("hyperliquid", "allMids", Decimal(mids[coin]),
                                                                       None)
        assert before <= price.ts <= after and price.id == f"hyperliquid:{coin}:{price.ts}"
    assert await read_topic(cfg, "dlq") == []  # the greeting and the acknowledgement are no dead letters
    assert metric(text, "ingest_published_total", source="hyperliquid", topic="venues.prices") == 3
    assert metric(text, "ingest_connected", source="hyperliquid") == 1


async def test_a_malformed_message_goes_to_the_dlq_with_its_reason(settings: Settings) -> None:
    script: list[dict[str, Any] | str] = [
        "{not json", ["no", "channel"], {"channel": "allMids", "data": {"coins": {}}},
        all_mids({"BTC": 97012.5, "ETH": "-3201.2", "SOL": "150.0615"})]
    fake = await hyperliquid([script]).start()
    try:
        cfg = venue_settings(settings, fake)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            letters = await eventually(lambda: at_least(cfg, "dlq", 5), what="five dead letters")
            (sol,) = await eventually(lambda: at_least(cfg, "venues.prices", 1), what="SOL's mid")
            text = await metrics_text(cfg)
    finally:
        await fake.stop()
    reasons = sorted(DeadLetter.model_validate(d).reason for d in letters)
    assert len(reasons) == 5 and all(d["topic"] == "venues.prices" and d["stage"] == "decode" for d in letters)
    assert any(r.startswith("Hyperliquid message is not JSON") for r in reasons)
    assert "Hyperliquid message is not an object with a `channel`" in reasons
    assert "Hyperliquid allMids message without a `mids` object" in reasons
    assert "Hyperliquid mid of BTC is not a decimal string: 97012.5" in reasons
    assert any(r.startswith("Hyperliquid mid of ETH '-3201.2' refused") for r in reasons)
    assert {d["payload"] for d in letters} >= {"{not json", '["no", "channel"]'}
    assert (sol["market"], sol["price"]) == ("SOL-PERP", "150.0615")  # the rest of that message still counts
    assert metric(text, "ingest_dlq_total", source="hyperliquid", stage="decode") == 5


async def test_a_dropped_connection_is_made_again_with_both_feeds_subscribed(settings: Settings) -> None:
    first = l2_book("BTC", T, [("96999.0", "1.2", 3)], [("97001.0", "0.5", 1)])
    again = l2_book("BTC", T + 700, [("97000.0", "0.8", 2)], [("97002.0", "0.4", 1)])
    fake = await hyperliquid([[first, all_mids({"BTC": "97000"})], [again, all_mids({"BTC": "97001.5"})]],
                             drop=True).start()
    try:
        cfg = venue_settings(settings, fake)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            prices = await eventually(lambda: at_least(cfg, "venues.prices", 2), what="a mid from each connection")
            books = await read_topic(cfg, "books")
            text = await metrics_text(cfg)
    finally:
        await fake.stop()
    assert [p["price"] for p in prices[:2]] == ["97000", "97001.5"] and fake.connections >= 2
    assert [(b["seq"], b["bids"][0]["price"]) for b in books[:2]] == [(T, "96999"), (T + 700, "97000")]
    for subscription in SUBSCRIPTIONS:  # both feeds subscribed again on the new connection
        assert fake.received.count(subscription) >= 2
    assert metric(text, "ingest_reconnects_total", source="hyperliquid") >= 1
    assert metric(text, "ingest_gaps_total", source="hyperliquid") >= 1


async def test_a_frame_past_the_bound_ends_the_connection_unread_and_the_next_goes_on(settings: Settings) -> None:
    huge = all_mids({"BTC": "97000"}, padding="x" * MESSAGE_BYTES)  # held in memory whole, had it been read
    fake = await hyperliquid([[huge], [all_mids({"BTC": "97001.5"})]]).start()
    try:
        cfg = venue_settings(settings, fake)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            (price,) = await eventually(lambda: at_least(cfg, "venues.prices", 1), what="the next connection's mid")
            text = await metrics_text(cfg)
    finally:
        await fake.stop()
    assert price["price"] == "97001.5" and fake.connections == 2
    assert metric(text, "ingest_reconnects_total", source="hyperliquid") == 1


@pytest.mark.parametrize("mute", [False, True])
async def test_pings_keep_a_quiet_connection_and_silence_drops_it(settings: Settings, mute: bool) -> None:
    fake = await hyperliquid([], mute=mute).start()
    try:
        cfg = venue_settings(settings, fake, hyperliquid_ping_s=0.1, hyperliquid_silence_s=0.5)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            async def pinged() -> bool:
                return fake.pings >= 15 if not mute else fake.connections >= 2
            await eventually(pinged, what="pings answered" if not mute else "a silent connection made again")
    finally:
        await fake.stop()
    assert {"method": "ping"} in fake.received
    assert (fake.connections == 1) is not mute  # answered pings keep the one connection; silence drops it


T = 1_767_225_600_000


def test_the_greeting_an_acknowledgement_and_a_pong_carry_no_prices_and_take_no_stamp() -> None:
    feed = Feed(COINS)
    assert feed.read(GREETING, T) is None
    assert feed.read('{"channel":"pong"}', T) is None
    ack = orjson.dumps({"channel": "subscriptionResponse", "data": book_subscription("SOL")})
    assert feed.read(ack, T) is None
    other_dex = feed.read('{"channel":"allMids","data":{"dex":"xyz","mids":{"BTC":"1"}}}', T)
    assert other_dex is not None and other_dex.prices == [] and other_dex.dead == []
    with pytest.raises(ConnectionError, match="refused"):
        feed.read('{"channel":"error","data":"Invalid subscription"}', T)
    assert feed.stamper.last == -1


def test_two_messages_in_one_ms_get_two_ids_and_a_clock_stepped_back_never_reuses_one() -> None:
    feed, message = Feed(COINS), '{"channel":"allMids","data":{"mids":{"ETH":"3201.2"}}}'
    ids = [p.id for received in (T, T, T - 1000, T + 1) for p in (feed.read(message, received) or Update()).prices]
    assert ids == [f"hyperliquid:ETH:{T}", f"hyperliquid:ETH:{T}:1", f"hyperliquid:ETH:{T}:2",
                   f"hyperliquid:ETH:{T + 1}"]


# An l2Book message as Hyperliquid sends it (WsBook; the top 5 of its 20 levels a side kept): BTC's book at
# `time`, bids then asks, each best first, px and sz decimal strings, n the orders at the level.
RECORDED_BOOK = (
    '{"channel":"l2Book","data":{"coin":"BTC","time":1767225600412,"levels":['
    '[{"px":"97012.0","sz":"3.41027","n":12},{"px":"97011.0","sz":"0.0125","n":2},'
    '{"px":"97010.0","sz":"0.33551","n":5},{"px":"97008.0","sz":"1.2","n":1},{"px":"97005.0","sz":"12.00069","n":31}],'
    '[{"px":"97013.0","sz":"0.98132","n":7},{"px":"97014.0","sz":"0.00012","n":1},'
    '{"px":"97016.0","sz":"2.5","n":3},{"px":"97017.0","sz":"0.7731","n":4},{"px":"97020.0","sz":"8.11942","n":18}]'
    ']}}')
BOOK_T = 1_767_225_600_412


def test_a_recorded_l2book_message_is_a_snapshot_of_our_market_at_its_own_time() -> None:
    update = Feed(COINS).read(RECORDED_BOOK, BOOK_T + 350)  # received later than its time: its time counts
    assert update is not None and update.dead == [] and update.prices == [] and len(update.books) == 1
    book = update.books[0]
    assert (book.id, book.ts, book.seq, book.venue, book.market, book.kind) == (
        f"hyperliquid:BTC:l2Book:{BOOK_T}", BOOK_T, BOOK_T, "hyperliquid", "BTC-PERP", "snapshot")
    assert [(lv.price, lv.size, lv.orders) for lv in book.bids] == [
        (Decimal("97012"), Decimal("3.41027"), 12), (Decimal("97011"), Decimal("0.0125"), 2),
        (Decimal("97010"), Decimal("0.33551"), 5), (Decimal("97008"), Decimal("1.2"), 1),
        (Decimal("97005"), Decimal("12.00069"), 31)]
    assert [(lv.price, lv.size, lv.orders) for lv in book.asks] == [
        (Decimal("97013"), Decimal("0.98132"), 7), (Decimal("97014"), Decimal("0.00012"), 1),
        (Decimal("97016"), Decimal("2.5"), 3), (Decimal("97017"), Decimal("0.7731"), 4),
        (Decimal("97020"), Decimal("8.11942"), 18)]
    assert BookUpdate.model_validate(dump(book)) == book  # what goes on `books` reads back as it was
    levels = LevelBook("BTC-PERP", "hyperliquid")
    assert levels.apply_snapshot(book.seq, book.ts, [Level(lv.price, lv.size, lv.orders) for lv in book.bids],
                                 [Level(lv.price, lv.size, lv.orders) for lv in book.asks]) == "applied"
    bbo = levels.bbo()
    assert bbo.healthy and bbo.bid == Level(Decimal("97012"), Decimal("3.41027"), 12) and bbo.ask is not None
    assert bbo.ask.price == Decimal("97013")


def book_of(feed: Feed, message: dict[str, Any], received: int = T) -> Update:
    """Return what the feed makes of one l2Book message."""
    update = feed.read(orjson.dumps(message), received)
    assert update is not None
    return update


def test_a_book_no_newer_than_the_last_of_its_coin_or_unchanged_is_dropped() -> None:
    feed = Feed(COINS)
    bids, asks = [("97010.0", "1.5", 3)], [("97011.0", "0.2", 1)]
    assert [b.seq for b in book_of(feed, l2_book("BTC", T, bids, asks)).books] == [T]
    repeat = book_of(feed, l2_book("BTC", T, [("97009.0", "1", 1)], asks))  # one time, two books: the first holds
    older = book_of(feed, l2_book("BTC", T - 1, [("97009.0", "1", 1)], asks))
    unchanged = book_of(feed, l2_book("BTC", T + 500, bids, asks))
    assert [(u.books, u.dead, u.dropped) for u in (repeat, older, unchanged)] == [([], [], 1)] * 3
    # the unchanged book still moved the coin's time on: a book older than it is no news
    assert book_of(feed, l2_book("BTC", T + 400, [("97009.0", "1", 1)], asks)).dropped == 1
    changed = book_of(feed, l2_book("BTC", T + 900, bids, [("97011.0", "0.3", 2)]))
    assert [(b.seq, b.asks[0].size, b.asks[0].orders) for b in changed.books] == [(T + 900, Decimal("0.3"), 2)]
    eth = book_of(feed, l2_book("ETH", T - 5000, [("3201.1", "10", 4)], []))  # each coin's book has its own time
    assert [(b.market, b.seq, b.asks) for b in eth.books] == [("ETH-PERP", T - 5000, ())]
    assert book_of(feed, l2_book("DOGE", T, bids, asks)) == Update()  # a coin we did not subscribe to


def test_a_crossed_book_is_published_as_it_came_and_gives_no_top() -> None:
    feed = Feed(COINS)
    crossed = book_of(feed, l2_book("BTC", T, [("97012.0", "1", 1)], [("97011.0", "1", 1)]))
    assert [(b.bids[0].price, b.asks[0].price) for b in crossed.books] == [(Decimal("97012"), Decimal("97011"))]
    mid = feed.read('{"channel":"allMids","data":{"mids":{"BTC":"97011.5"}}}', T + 1)
    assert mid is not None and [(p.bid, p.ask) for p in mid.prices] == [(None, None)]


def test_a_mid_carries_the_live_book_top_that_brackets_it() -> None:
    feed = Feed(COINS)
    book_of(feed, l2_book("BTC", T, [("97010.0", "1.5", 3), ("97009.0", "1", 1)], [("97011.0", "0.2", 1)]))

    def quote(mid: str) -> tuple[Decimal | None, Decimal | None]:
        update = feed.read(orjson.dumps(all_mids({"BTC": mid, "ETH": "3201.2"})), T + 1)
        assert update is not None
        btc, eth = update.prices
        assert (eth.bid, eth.ask) == (None, None)  # no ETH book yet
        return btc.bid, btc.ask

    assert quote("97010.5") == quote("97010") == (Decimal("97010"), Decimal("97011"))
    assert quote("97011.5") == (None, None)  # the mid moved past the book's top: that top is older than the mid
    book_of(feed, l2_book("BTC", T + 2, [("97010.0", "1.5", 3)], []))
    assert quote("97010.5") == (None, None)  # no asks left: no top
    book_of(feed, l2_book("BTC", T + 3, [("97010.0", "1.5", 3)], [("97011.0", "0.2", 1)]))
    assert quote("97010.5") == (Decimal("97010"), Decimal("97011"))
    feed.connected()
    assert quote("97010.5") == (None, None)  # a new connection: the top waits for its first book


HOSTILE_BOOKS: list[tuple[Any, str]] = [
    ({"time": T, "levels": [[], []]}, "Hyperliquid l2Book message without a `coin`"),
    ({"coin": 7, "time": T, "levels": [[], []]}, "Hyperliquid l2Book message without a `coin`"),
    (["BTC", T], "Hyperliquid l2Book message without a `coin`"),
    ({"coin": "BTC", "levels": [[], []]}, "`time` is not an integer: None"),
    ({"coin": "BTC", "time": 1767225600412.0, "levels": [[], []]}, "`time` is not an integer: 1767225600412.0"),
    ({"coin": "BTC", "time": True, "levels": [[], []]}, "`time` is not an integer: True"),
    ({"coin": "BTC", "time": str(T), "levels": [[], []]}, "`time` is not an integer: '1767225600000'"),
    ({"coin": "BTC", "time": 1767225600, "levels": [[], []]}, "invalid ts: Input should be greater than or equal"),
    ({"coin": "BTC", "time": T}, "`levels` is not [bids, asks]"),
    ({"coin": "BTC", "time": T, "levels": [[]]}, "`levels` is not [bids, asks]"),
    ({"coin": "BTC", "time": T, "levels": {"bids": [], "asks": []}}, "`levels` is not [bids, asks]"),
    ({"coin": "BTC", "time": T, "levels": [[], {"px": "1"}]}, "asks are not a list"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "1", "sz": "1"}], []]}, "bids.0 is not a level {px, sz, n}"),
    ({"coin": "BTC", "time": T, "levels": [[["1", "1", 1]], []]}, "bids.0 is not a level {px, sz, n}"),
    ({"coin": "BTC", "time": T, "levels": [[], [{"px": 97011.5, "sz": "1", "n": 1}]]},
     "asks.0.px is not a decimal string but float"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "97010", "sz": 2, "n": 1}], []]},
     "bids.0.sz is not a decimal string but int"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "97o10", "sz": "1", "n": 1}], []]}, "invalid bids.0.price"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "NaN", "sz": "1", "n": 1}], []]}, "invalid bids.0.price"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "-97010", "sz": "1", "n": 1}], []]}, "invalid bids.0.price"),
    ({"coin": "BTC", "time": T, "levels": [[], [{"px": "97011", "sz": "-0.5", "n": 1}]]}, "invalid asks.0.size"),
    ({"coin": "BTC", "time": T, "levels": [[], [{"px": "97011", "sz": "0.0000000000000000001", "n": 1}]]},
     "invalid asks.0.size"),
    ({"coin": "BTC", "time": T, "levels": [[], [{"px": "97011", "sz": "0", "n": 0}]]},
     "a snapshot's levels must hold size > 0"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "97010", "sz": "1", "n": -1}], []]}, "invalid bids.0.orders"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "97010", "sz": "1", "n": 1.0}], []]}, "invalid bids.0.orders"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "97010", "sz": "1", "n": True}], []]}, "invalid bids.0.orders"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": str(97000 - i), "sz": "1", "n": 1} for i in range(1001)], []]},
     "1001 bids levels, more than the 1000 a book message holds"),
    ({"coin": "BTC", "time": T, "levels": [[{"px": "97009", "sz": "1", "n": 1}, {"px": "97010", "sz": "1", "n": 1}],
                                           []]}, "bids are not strictly best first"),
    ({"coin": "BTC", "time": T, "levels": [[], [{"px": "97011", "sz": "1", "n": 1}, {"px": "97011", "sz": "2", "n": 1}]
                                           ]}, "asks are not strictly best first"),
]


@pytest.mark.parametrize(("data", "reason"), HOSTILE_BOOKS, ids=[reason[:40] for _, reason in HOSTILE_BOOKS])
def test_a_book_not_as_documented_goes_whole_to_the_dlq_with_its_reason(data: Any, reason: str) -> None:
    feed = Feed(COINS)
    raw = orjson.dumps({"channel": "l2Book", "data": data})
    update = feed.read(raw, T + 7)
    assert update is not None and update.books == [] and update.prices == [] and update.dropped == 0
    (letter,) = update.dead
    assert (letter.topic, letter.stage, letter.payload, letter.ts, letter.id) == (
        "books", "decode", raw.decode(), T + 7, f"hyperliquid:{T + 7}:dead")
    assert reason in letter.reason and letter.reason.startswith("Hyperliquid l2Book")
    # nothing of it was kept: the book of that time, as documented, is still news
    good = book_of(feed, l2_book("BTC", T, [("97010.0", "1", 1)], [("97011.0", "1", 1)]))
    assert [b.seq for b in good.books] == [T]


async def test_our_books_arrive_on_the_books_topic_and_their_tops_on_the_mids(settings: Settings) -> None:
    bids, asks = [("97010.0", "1.5", 3), ("97009.0", "0.25", 1)], [("97011.0", "0.2", 1)]
    script: list[dict[str, Any] | str] = [
        RECORDED_BOOK,
        l2_book("ETH", T, [("3201.1", "10.5", 4)], [("3201.3", "2", 1)]),
        l2_book("BTC", BOOK_T, bids, asks),  # no newer than the recorded one: dropped
        l2_book("BTC", BOOK_T + 500, bids, asks),  # newer, so it is BTC's book
        l2_book("BTC", BOOK_T + 1000, bids, asks),  # unchanged: dropped
        l2_book("BTC", BOOK_T + 1500, bids, [("97011.0", "0.1", 1)]),
        l2_book("SOL", T, [("151.2", "30", 2)], [("151.1", "12", 1)]),  # crossed: published, the domain flags it
        {"channel": "l2Book", "data": {"coin": "SOL", "time": T + 500, "levels": [[{"px": "151.2"}], []]}},
        all_mids({"BTC": "97010.5", "ETH": "3201.2"})]
    fake = await hyperliquid([script]).start()
    try:
        cfg = venue_settings(settings, fake)
        async with ingest_running(cfg, cfg.kafka_bootstrap or "", ("hyperliquid",)):
            prices = await eventually(lambda: at_least(cfg, "venues.prices", 2), what="the mids after the books")
            books = [BookUpdate.model_validate(b) for b in await read_topic(cfg, "books")]
            (letter,) = await read_topic(cfg, "dlq")
            text = await metrics_text(cfg)
    finally:
        await fake.stop()
    assert sorted((b.market, b.seq) for b in books) == [
        ("BTC-PERP", BOOK_T), ("BTC-PERP", BOOK_T + 500), ("BTC-PERP", BOOK_T + 1500), ("ETH-PERP", T),
        ("SOL-PERP", T)]
    btc = [b for b in books if b.market == "BTC-PERP"]
    assert [b.seq for b in btc] == [BOOK_T, BOOK_T + 500, BOOK_T + 1500]  # one market, one partition: in order
    assert all(b.ts == b.seq and b.kind == "snapshot" and b.venue == "hyperliquid" for b in books)
    assert btc[2].asks == (BookLevel(price=Decimal("97011"), size=Decimal("0.1"), orders=1),)
    assert (letter["topic"], letter["stage"]) == ("books", "decode")
    assert letter["reason"] == "Hyperliquid l2Book of SOL refused: bids.0 is not a level {px, sz, n}"
    quotes = {p["market"]: (p["price"], p["bid"], p["ask"]) for p in prices}
    assert quotes == {"BTC-PERP": ("97010.5", "97010", "97011"), "ETH-PERP": ("3201.2", "3201.1", "3201.3")}
    assert metric(text, "ingest_published_total", source="hyperliquid", topic="books") == 5
    assert metric(text, "ingest_duplicates_total", source="hyperliquid") == 2
    assert metric(text, "ingest_dlq_total", source="hyperliquid", stage="decode") == 1
