"""What an embedded broker forgot comes back from the warehouse: every stored input as it was read, merged with a
replay file once per id, in apply order."""

from quantdesk.messages import INPUT_MODELS
from streams.sources.restore import in_apply_order, last_simulated_step, stored_inputs
from quantdesk.kafka.topics import STORED_TABLES
from quantdesk.warehouse import Warehouse
from quantdesk.wire import encode_batch
from streams.agents.sink import TableWriter, stored_events

TS = 1_767_225_600_000
TICK = {"id": "sim:tick:SOL-PERP:7:0", "ts": TS + 5, "market": "SOL-PERP", "price": "150.050", "conf": "0.01",
        "publish_time": TS, "status": "trading", "source": "simulator", "slot": 7}
FILL = {"id": "p:0:sell", "ts": TS + 5, "market": "SOL-PERP", "wallet": "W", "subaccount": 1, "side": "sell",
        "size": "5.13", "price": "92", "fee": "-0.5", "liquidity": "maker", "signature": "", "slot": 0,
        "liquidation": "p"}
CHANGE = {"id": "d", "ts": TS + 5, "wallet": "W", "subaccount": 1, "kind": "deposit", "amount": "1000",
          "signature": "", "slot": 0}
ORDER = {"id": "sig:0:0", "ts": TS + 5, "market": "SOL-PERP", "wallet": "W", "subaccount": 1, "kind": "placed",
         "side": "buy", "size": "5.13", "price": "92", "order_type": "Limit", "signature": "sig", "slot": 7,
         "order": "o1"}
VENUE = {"id": "hyperliquid:SOL:1767225600005", "ts": TS + 5, "venue": "hyperliquid", "market": "SOL-PERP",
         "price": "150.0615", "source": "allMids"}


def store(warehouse: Warehouse, topic: str, *events: dict) -> None:
    """Store input events as the sink does."""
    writer = TableWriter(warehouse, STORED_TABLES[topic])
    warehouse.insert_new(writer.table, writer.columns, [writer.row(e) for e in stored_events(topic, encode_batch(events))])


def test_stored_inputs_read_back_as_the_events_the_workers_read(warehouse: Warehouse) -> None:
    store(warehouse, "oracle.ticks", TICK)
    store(warehouse, "trades.fills", FILL)  # a venue's fill keeps the plan it carries out
    store(warehouse, "accounts.changes", CHANGE)
    restored = {event["id"]: (topic, key, event) for topic, key, event in stored_inputs(warehouse)}
    for topic, original in (("oracle.ticks", TICK), ("trades.fills", FILL), ("accounts.changes", CHANGE)):
        back_topic, key, event = restored[original["id"]]
        model = INPUT_MODELS[topic]
        assert back_topic == topic and model.model_validate(event) == model.model_validate(original)
    assert restored["p:0:sell"][1] == "W:1" and restored["p:0:sell"][2]["liquidation"] == "p"
    store(warehouse, "trades.fills", {**FILL, "id": "plain"} | {"liquidation": None})
    assert "liquidation" not in {e["id"]: e for _, _, e in stored_inputs(warehouse)}["plain"]  # a trader's own fill
    assert last_simulated_step(warehouse) == 7


def test_a_replay_merged_with_what_was_stored_comes_once_per_id_in_apply_order() -> None:
    later = {**TICK, "id": "later", "ts": TS + 9}
    merged = in_apply_order([("trades.fills", "W:1", FILL), ("oracle.ticks", "SOL-PERP", later),
                             ("oracle.ticks", "SOL-PERP", TICK), ("accounts.changes", "W:1", CHANGE),
                             ("trades.fills", "W:1", {**FILL, "price": "93"})])  # the same id again
    assert [event["id"] for _, _, event in merged] == ["d", TICK["id"], "p:0:sell", "later"]
    assert merged[2][2]["price"] == "92"  # the first of an id is the one kept


def test_other_venues_prices_read_back_exactly_with_an_absent_book_top_absent(warehouse: Warehouse) -> None:
    booked = {**VENUE, "id": "sim:venue:SOL-PERP:7:0", "venue": "sim-venue", "price": "150.123456789012345678",
              "bid": "150.116", "ask": "150.130", "source": "simulator"}
    store(warehouse, "venues.prices", VENUE, booked)
    restored = {event["id"]: (topic, key, event) for topic, key, event in stored_inputs(warehouse)}
    topic, key, event = restored[VENUE["id"]]
    assert (topic, key) == ("venues.prices", "SOL-PERP") and "bid" not in event and "ask" not in event
    assert INPUT_MODELS[topic].model_validate(event) == INPUT_MODELS[topic].model_validate(VENUE)
    back = restored[booked["id"]][2]
    assert (back["price"], back["bid"], back["ask"]) == ("150.123456789012345678", "150.116", "150.13")
    assert INPUT_MODELS[topic].model_validate(back) == INPUT_MODELS[topic].model_validate(booked)


def test_a_venue_price_applies_after_the_fills_of_its_time() -> None:
    merged = in_apply_order([("venues.prices", "SOL-PERP", VENUE), ("trades.fills", "W:1", FILL),
                             ("oracle.ticks", "SOL-PERP", {**TICK, "ts": TS + 6}), ("accounts.changes", "W:1", CHANGE)])
    assert [topic for topic, _, _ in merged] == ["accounts.changes", "trades.fills", "venues.prices", "oracle.ticks"]


def test_order_events_and_the_order_a_fill_fills_read_back_as_they_were_read(warehouse: Warehouse) -> None:
    cancel = {"id": "sim:cancel", "ts": TS + 6, "market": "SOL-PERP", "wallet": "W", "subaccount": 1,
              "kind": "cancelled", "order": "o1", "signature": "", "slot": 0}
    store(warehouse, "orders.events", ORDER, cancel)
    store(warehouse, "trades.fills", {**FILL, "order": "o1"})
    restored = {event["id"]: (topic, key, event) for topic, key, event in stored_inputs(warehouse)}
    for original in (ORDER, cancel):
        topic, key, event = restored[original["id"]]
        assert (topic, key) == ("orders.events", "W:1")
        assert INPUT_MODELS[topic].model_validate(event) == INPUT_MODELS[topic].model_validate(original)
    assert "side" not in restored["sim:cancel"][2] and restored["p:0:sell"][2]["order"] == "o1"
    merged = in_apply_order([("trades.fills", "W:1", {**FILL, "ts": ORDER["ts"]}), ("orders.events", "W:1", ORDER)])
    assert [topic for topic, _, _ in merged] == ["orders.events", "trades.fills"]  # placed before it fills
