"""Risk engines that each hold a share of the accounts, by the Kafka partition of their key, publish together
exactly what one engine holding every account publishes: the same messages, in the same order per key.

The first engine authors the markets: it reads every input event, and puts out each market's epochs. The others
read those epochs, every admin's command, and their own accounts' fills and changes only, and never recompute a
market. Each reads behind a reorder buffer of its own, as a risk task does, applies nothing past what the author has
applied, and waits only for the fills of its own plans: the venue fills them against the liquidator subaccount of
the liquidated account's partition, held by the same engine. Outputs are compared per topic and key, since the order
across keys is each engine's own."""

from collections import defaultdict
from decimal import Decimal as D

import orjson
import pytest

from quantdesk.kafka.publisher import partition_of
from quantdesk.messages import (AccountChange, AdminCommand, Fill, MarketEpoch, Message, OracleTick, RiskOutcomes,
                                account_key)
from quantdesk.wire import Encoded
from streams.domain.alerts import Thresholds
from streams.risk.engine import RiskEngine
from streams.risk.liquidator import LIQUIDATOR, liquidation_fills, liquidator_float, liquidator_for
from streams.risk.outputs import Outputs
from streams.risk.owners import Owners
from streams.risk.reorder import Event, Key, ReorderBuffer, order_key
from tests.streams.risk.test_store import MARKETS, T0, releases
from tests.streams.risk.test_store import inputs as one_partition_inputs

PARTITIONS = (0, 1, 2)  # the input topics' partitions (settings.topic_partitions)
MARKETS_NAMES = [m.name for m in MARKETS]
KEYS = {"states": "account", "ledger": "account", "funding_payments": "account", "liquidations": "account",
        "funding_rates": "market", "audit": "subject", "signals": "subject", "dead_letters": "topic"}


def inputs(steps: int) -> list[Event]:
    """Return `test_store`'s run with the float of every partition's liquidator (the first is in it already)."""
    liquidators = {liquidator_for(account_key(LIQUIDATOR, s), len(PARTITIONS)) for s in range(32)} - {0}
    floats = [AccountChange.model_validate(liquidator_float(T0 - 200_000, s)[2]) for s in sorted(liquidators)]
    return [*floats, *one_partition_inputs(steps)]


def shards(count: int) -> list[RiskEngine]:
    """Return `count` engines, engine i holding the accounts of partitions p with p % count == i; the first
    speaks for the markets and authors their epochs, the others follow them."""
    def holds(i: int):
        return lambda key: partition_of(key, PARTITIONS) % count == i
    return [RiskEngine(MARKETS, holds=holds(i), speaks_for_markets=i == 0, epochs="author" if i == 0 else "follow")
            for i in range(count)]


def reads(engine: RiskEngine, event: Event) -> bool:
    """Tell whether an engine reads an event, as its task does: the author every input event; a follower the epochs,
    every admin's command, and its own accounts' fills and changes."""
    if type(event) is MarketEpoch:
        return engine.epochs == "follow"
    if engine.epochs != "follow" or type(event) is AdminCommand:
        return True
    return type(event) in (AccountChange, Fill) and engine.held(account_key(event.wallet, event.subaccount))


def key_of(item: Message, by: str) -> str:
    """Return the key an output goes under on its topic."""
    return account_key(item.wallet, item.subaccount) if by == "account" else getattr(item, by)


def run(engines: list[RiskEngine], events: list[Event],
        owners: Owners | None = None) -> dict[tuple[str, str], list[bytes]]:
    """Apply the events, in releases, each engine behind its own reorder buffer, as a shard reads them (`reads`),
    and the records they leave through one set of owners (`owners`, new ones when None), as their tasks send them;
    return each topic's messages per key, in order (the owners' apart: another producer). A plan's fills reach every engine with the next release, and only the engine that made it
    waits for them. The author goes first; its epochs reach the others in the same release, which apply nothing
    past what it has applied (`ReorderBuffer.bound`), and tell the owners they have applied through as far as the
    author has, short of what they hold (`AccountsAgent.owners_through`)."""
    buffers, incoming, published = [ReorderBuffer(grace_ms=0) for _ in engines], [], defaultdict(list)
    owners = Owners(MARKETS_NAMES, Thresholds(), len(engines)) if owners is None else owners
    last: list[Key] = [(0, 0, "")] * len(engines)  # the key of the last event each task applied
    told: list[Key] = [(0, 0, "")] * len(engines)  # the key each task told the owners it has applied through
    for release, chunk in enumerate(releases(events), 1):
        out, epochs = Outputs(), []
        for task, (engine, buffer) in enumerate(zip(engines, buffers)):
            buffer.bound = (buffers[0].heap[0][0][0] - 1 if buffers[0].heap else buffers[0].newest) if task else None
            buffer.push([e for e in [*incoming, *chunk, *epochs] if reads(engine, e)])
            applied, left = [], Outputs()
            for event in buffer.drain():
                caused = engine.apply(event)
                buffer.expect(f["id"] for p in caused.liquidations for _, _, f in liquidation_fills(p, len(PARTITIONS)))
                out.extend(caused)
                left.extend(caused)
                applied.append(event)
            epochs += left.epochs
            last[task] = max([last[task], *map(order_key, applied)])
            through = last[task]
            if engine.epochs == "follow" and not buffer.awaited:
                through = max(through, min([last[0], *(key for key, _, _ in buffer.heap[:1])]))
            if applied or through > told[task]:
                owners.take(RiskOutcomes(task=task, release=release, through=through, sides=left.sides,
                                         outcomes=left.outcomes))
                told[task] = through
        record(published, out)
        record(published, owners.due()[0], "owners:")
        incoming = [Fill.model_validate(f) for p in out.liquidations for _, _, f in liquidation_fills(p, len(PARTITIONS))]
    return dict(published)


def record(published: dict[tuple[str, str], list[bytes]], out: Outputs, by: str = "") -> None:
    """Add each output message to its topic and key's list (`by` names the producer)."""
    for name, key in KEYS.items():
        for item in getattr(out, name):
            published[by + name, key_of(item, key)].append(Encoded.of(item).json)


@pytest.mark.parametrize("count", [2, 3])
def test_shards_publish_byte_for_byte_what_one_engine_holding_every_account_publishes(count: int) -> None:
    events = inputs(900)
    whole = run([RiskEngine(MARKETS)], events)
    sharded = run(shards(count), events)
    topics = {name for name, _ in whole}
    # the run closes an hour's funding, plans liquidations, refuses a withdrawal, and an admin acts on markets; the
    # owners credit and draw the insurance fund, book the cover, signal the completion and the skew
    assert {"states", "ledger", "funding_payments", "liquidations", "funding_rates", "audit", "signals",
            "dead_letters", "owners:ledger", "owners:audit", "owners:signals"} <= topics
    assert {key for name, key in whole if name == "owners:audit"} >= {"insurance-fund"}
    assert set(sharded) ^ set(whole) == set()
    assert [key for key, messages in whole.items() if sharded[key] != messages] == []


def test_a_follower_quotes_a_market_at_its_last_fill_before_any_oracle_as_one_engine_does() -> None:
    wallets = [w for w in (f"early{n}" for n in range(20)) if partition_of(account_key(w, 0), PARTITIONS) % 2 == 1]
    first, second = wallets[:2]

    def fill(n: int, wallet: str, side: str, price: str) -> Fill:
        return Fill(id=f"early:{n}", ts=T0 + n, market="SOL-PERP", wallet=wallet, side=side, size=D("2"),
                    price=D(price))
    events = [AccountChange(id=f"deposit:{w}", ts=T0, wallet=w, kind="deposit", amount=D("1000")) for w in wallets[:2]]
    events += [fill(1, first, "buy", "150"), fill(2, second, "sell", "151"), fill(3, first, "sell", "149")]
    events += [OracleTick(id="sol:4", ts=T0 + 4, market="SOL-PERP", price=D("150"), conf=D("0.1"), publish_time=T0 + 4)]
    whole = run([RiskEngine(MARKETS)], events)
    assert run(shards(2), events) == whole
    states = [orjson.loads(m) for m in whole["states", account_key(second, 0)]]
    assert states[1]["positions"][0]["upnl"] == "0E-9"  # marked at its own fill's price: the last before an oracle


def test_each_shard_holds_only_its_own_accounts_and_the_same_markets_which_only_the_author_computes() -> None:
    engines = shards(3)
    run(engines, inputs(300))
    held = [set(engine.accounts) for engine in engines]
    assert all(held) and not (held[0] & held[1] or held[1] & held[2] or held[0] & held[2])
    assert all(partition_of(key, PARTITIONS) == i for i, keys in enumerate(held) for key in keys)
    views = [{name: (market.quote(), market.healthy(engine.newest_tick_ts), market.paused, market.params)
              for name, market in engine.markets.items()} for engine in engines]
    assert views[0] == views[1] == views[2]
    assert all(market.tracker.mark is not None for market in engines[0].markets.values())
    assert not any(market.tracker.mark is not None or market.tracker.twap.times
                   for engine in engines[1:] for market in engine.markets.values())


def test_only_the_engine_speaking_for_the_markets_publishes_their_rates_and_admins_audits() -> None:
    events, (author, *followers) = inputs(900), shards(3)
    published = [run([author], events)]
    for follower in followers:  # each behind an author of its own, which publishes nothing here
        published.append(run([RiskEngine(MARKETS, holds=lambda key: False, speaks_for_markets=False, epochs="author"),
                               follower], events))
    assert any(name == "funding_rates" for name, _ in published[0])
    assert not any(name == "funding_rates" or key in ("ETH-PERP", "BTC-PERP", "someone")
                   for p in published[1:] for name, key in p if not name.startswith("owners:"))
