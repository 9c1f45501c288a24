"""What an embedded broker forgot, given back from the warehouse, which holds every input stored.

The embedded broker keeps its topics in memory. `quantdesk up` on an existing data dir finds them empty and
the warehouse full: it publishes the stored inputs back, in apply order, before any worker starts, and the
workers rebuild every account and market from them as one run over the same input would (what they publish
again carries the same ids, which the sink stores once).
"""

import time
from dataclasses import dataclass

from aiokafka import TopicPartition

from quantdesk.kafka.publisher import Keyed, Publisher, partition_key
from quantdesk.kafka.reader import Reader
from quantdesk.settings import Settings
from quantdesk.warehouse import Warehouse

PRIORITY = {"admin.commands": 0, "accounts.changes": 1, "oracle.ticks": 2, "orders.events": 3, "trades.fills": 4}
# the apply order at one ts (`streams.risk.reorder`); any other input (other venues' prices) after them
MS = "toUnixTimestamp64Milli({0}) AS {0}"
COLUMNS = {  # how each input table reads back as the event it stored
    "accounts.changes": ("account_changes", ["id", MS.format("ts"), "wallet", "subaccount", "kind",
                                             "toString(amount) AS amount", "signature", "slot"]),
    "oracle.ticks": ("oracle_ticks", ["id", MS.format("ts"), "market", "toString(price) AS price",
                                      "toString(conf) AS conf", MS.format("publish_time"), "status", "source",
                                      "slot"]),
    "trades.fills": ("fills", ["id", MS.format("ts"), "market", "wallet", "subaccount", "side",
                               "toString(size) AS size", "toString(price) AS price", "toString(fee) AS fee",
                               "liquidity", "signature", "slot", "nullIf(liquidation, '') AS liquidation",
                               "nullIf(`order`, '') AS `order`"]),
    "venues.prices": ("venue_prices", ["id", MS.format("ts"), "venue", "market", "toString(price) AS price",
                                       "toString(bid) AS bid", "toString(ask) AS ask", "source"]),  # NULL: absent
    "orders.events": ("order_events", ["id", MS.format("ts"), "market", "wallet", "subaccount", "kind", "side",
                                       "toString(size) AS size", "toString(price) AS price", "order_type", "signature",
                                       "slot", "`order`"]),
    "admin.commands": ("admin_commands", ["id", MS.format("ts"), "admin", "action", "market", "wallet", "reason",
                                          "toString(imr) AS imr", "toString(mmr) AS mmr",
                                          "toString(max_funding_per_hour) AS max_funding_per_hour",
                                          MS.format("effective_at")]),
}


@dataclass(frozen=True)
class Restored:
    """How many stored inputs went back to the broker (with how many events of a replay file), how long it took."""

    stored: int
    published: int
    seconds: float


def stored_inputs(warehouse: Warehouse) -> list[Keyed]:
    """Return every stored input event as (topic, key, event)."""
    events: list[Keyed] = []
    for topic, (table, columns) in COLUMNS.items():
        for row in warehouse.rows(f"SELECT {', '.join(columns)} FROM {warehouse.database}.{table} FINAL"):
            event = {name: value for name, value in row.items() if value is not None}
            events.append((topic, partition_key(topic, event), event))
    return events


def in_apply_order(events: list[Keyed]) -> list[Keyed]:
    """Return the events once per id, in apply order (time, then admins' commands, changes, ticks, order events, fills, then id): every partition
    then runs forward in event time, so a reader folding them in order never meets one late."""
    unique = {event["id"]: (topic, key, event) for topic, key, event in reversed(events)}  # the first one kept
    return sorted(unique.values(), key=lambda keyed: (keyed[2]["ts"], PRIORITY.get(keyed[0], 5), keyed[2]["id"]))


async def inputs_empty(settings: Settings, bootstrap: str) -> bool:
    """Tell whether every input partition on the broker is empty (a broker that forgot, or a new one)."""
    parts = [TopicPartition(settings.topic(t), p) for t in COLUMNS for p in range(settings.topic_partitions)]
    async with Reader(bootstrap) as reader:
        return not any((await reader.end_offsets(parts)).values())


async def restore_inputs(settings: Settings, bootstrap: str, warehouse: Warehouse, replayed: list[Keyed],
                         window: int = 2000) -> Restored:
    """Publish the stored inputs back when the broker's input topics are empty, with the events of a replay file
    (`replayed`) merged in, once per id, in apply order; say how many (0: the broker kept its topics, and
    nothing was published), how fast."""
    started = time.monotonic()
    if not await inputs_empty(settings, bootstrap):
        return Restored(0, 0, 0.0)
    stored = stored_inputs(warehouse)
    events = in_apply_order(stored + replayed)
    async with Publisher(settings, bootstrap) as publisher:
        for start in range(0, len(events), window):
            await publisher.send(events[start:start + window])
    return Restored(len(stored), len(events), time.monotonic() - started)


def last_simulated_step(warehouse: Warehouse) -> int:
    """Return the last simulator step stored (0 for none): a simulator started again goes on after it."""
    rows = warehouse.rows(f"SELECT max(slot) AS step FROM {warehouse.database}.oracle_ticks "
                          "WHERE source = 'simulator'")
    return int(rows[0]["step"] or 0)
