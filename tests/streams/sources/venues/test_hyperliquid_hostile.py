"""Whatever Hyperliquid sends, the feed reads it without raising (but on the `error` channel, which reconnects):
our coins' mids and books where they are as documented, a dead letter saying why for each that is not. A raise in
`Feed.read` would drop the connection at every such message."""

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantdesk.messages import BookUpdate, DeadLetter, VenuePrice
from streams.sources.venues.hyperliquid import Feed

COINS = {"BTC": "BTC-PERP", "ETH": "ETH-PERP"}
NOW = 1_767_225_600_000
ODD = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
                st.text(max_size=30), st.sampled_from(("1e400", "-0", "NaN", "1E+19", "0.000000000000000000001",
                                                       "99999999999999999999.999999999999999999", "12\n3")))
VALUES = st.recursive(ODD, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner,
                                                                                     max_size=4), max_leaves=12)


@st.composite
def levels(draw: st.DrawFn) -> Any:
    """Draw one side of a book: mostly `{px, sz, n}` levels with odd values, at times anything."""
    if draw(st.integers(0, 9)) == 0:
        return draw(VALUES)
    return [{"px": draw(ODD), "sz": draw(ODD), "n": draw(ODD)} if draw(st.booleans()) else
            {"px": str(draw(st.decimals(allow_nan=False, allow_infinity=False, places=3))),
             "sz": draw(st.sampled_from(("1", "0", "-1", "1e30"))), "n": draw(st.integers(-1, 2**40))}
            for _ in range(draw(st.integers(0, 5)))]


@st.composite
def messages(draw: st.DrawFn) -> bytes:
    """Draw one websocket message: an `allMids` or `l2Book` of odd shape and values, another channel, or noise."""
    kind = draw(st.sampled_from(("mids", "book", "other", "noise")))
    coin = draw(st.sampled_from(("BTC", "ETH", "DOGE", "")))
    if kind == "mids":
        data: Any = {"mids": {coin: draw(ODD)}} if draw(st.booleans()) else draw(VALUES)
        message: Any = {"channel": "allMids", "data": data}
    elif kind == "book":
        data = {"coin": coin, "time": draw(st.one_of(st.integers(-(2**70), 2**70), ODD)),
                "levels": [draw(levels()), draw(levels())] if draw(st.booleans()) else draw(VALUES)}
        message = {"channel": "l2Book", "data": data}
    elif kind == "other":
        message = {"channel": draw(st.text(max_size=10).filter(lambda c: c != "error")), "data": draw(VALUES)}
    else:
        return draw(st.binary(max_size=60))
    return json.dumps(message).encode()  # the standard library's: it writes integers past 64 bits, and NaN


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(messages(), min_size=1, max_size=12))
def test_no_message_raises_and_each_is_read_or_dead_lettered(sent: list[bytes]) -> None:
    feed = Feed(COINS)
    for n, raw in enumerate(sent):
        update = feed.read(raw, NOW + n)
        if update is None:
            continue
        for event in [*update.prices, *update.books, *update.dead]:
            assert isinstance(event, (VenuePrice, BookUpdate, DeadLetter))
            event.model_dump_json()  # as the publisher sends it
