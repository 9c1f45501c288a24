"""The open interest's one owner: holder counts moved by side records only, the skew signal raised from them as one
engine holding every account raised it, whatever engines the accounts are spread over."""

from dataclasses import replace
from decimal import Decimal as D

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AdminCommand, Fill, HeldSide, HolderSide, account_key, dump
from streams.domain.alerts import Thresholds
from streams.risk.engine import RiskEngine
from streams.risk.open_interest import OpenInterest
from streams.risk.outputs import OUTPUT_LISTS, Outputs
from tests.streams.risk.events import BTC, SOL, T0, change, fill, run, tick

NAMES = [m.name for m in DEFAULT_MARKETS]
SIDES: list[HeldSide] = ["long", "short", "flat"]
FAST = replace(Thresholds(), cooldown_ms=1000)  # a cool-down the drawn gaps both hold and let through


def record(n: int, ts: int, market: str, wallet: str, before: HeldSide, after: HeldSide) -> HolderSide:
    trade = Fill(id=f"fill:{n}", ts=ts, market=market, wallet=wallet, side="buy", size=D(1), price=D(100))
    return HolderSide(id=f"fill:{n}:side", ts=ts, market=market, fill=trade, before=before, after=after,
                      params=f"v{n % 3}")


@st.composite
def moves(draw: st.DrawFn) -> list[HolderSide]:
    """Return side records of up to 8 accounts in two markets, each one's before the side its last record left."""
    held: dict[tuple[str, str], HeldSide] = {}
    out, ts = [], T0
    for n in range(draw(st.integers(0, 60))):
        market, wallet = draw(st.sampled_from(NAMES[:2])), f"w{draw(st.integers(0, 7))}"
        after, ts = draw(st.sampled_from(SIDES)), ts + draw(st.integers(0, 1500))
        out.append(record(n, ts, market, wallet, held.get((market, wallet), "flat"), after))
        held[market, wallet] = after
    return out


def published(out: Outputs) -> list[bytes]:
    return [orjson.dumps(dump(m)) for name in OUTPUT_LISTS for m in getattr(out, name)]


@settings(deadline=None)
@given(moves(), st.data())
def test_counts_are_a_recount_and_a_restored_owner_goes_on_alike(sides: list[HolderSide], data: st.DataObject) -> None:
    whole = OpenInterest(NAMES, FAST)
    outs = [published(whole.apply(side)) for side in sides]
    for name in NAMES:
        last = {side.fill.wallet: side.after for side in sides if side.market == name}
        held = whole.markets[name]
        assert (held.longs, held.shorts) == (list(last.values()).count("long"), list(last.values()).count("short"))
    cut = data.draw(st.integers(0, len(sides)))
    before = OpenInterest(NAMES, FAST)
    for side in sides[:cut]:
        before.apply(side)
    again = OpenInterest(NAMES, FAST)
    again.load_row(orjson.loads(orjson.dumps(before.to_row())))
    assert [published(again.apply(side)) for side in sides[cut:]] == outs[cut:]
    assert again.to_row() == whole.to_row()


def test_a_skew_is_raised_and_audited_for_the_fill_under_the_version_it_was_applied_under() -> None:
    sides = [record(n, T0 + n, SOL, f"w{n}", "flat", "short" if n == 0 else "long") for n in range(5)]
    owner = OpenInterest(NAMES)
    out = Outputs()
    for side in sides:
        out.extend(owner.apply(side))
    [skew], [entry] = out.signals, out.audit
    assert (skew.id, skew.ts) == (f"fill:4:open_interest_skew:{SOL}:long", T0 + 4)
    assert skew.data == {"market": SOL, "side": "long", "longs": 4, "shorts": 1, "share": "0.800000"}
    assert (entry.id, entry.action, entry.subject, entry.params, entry.causes) == (
        f"fill:4:{SOL}:signal_raised:{skew.id}", "signal_raised", SOL, "v1", ["fill:4"])
    assert OpenInterest(NAMES, None).apply(sides[-1]) == Outputs()  # no thresholds: counts only


def test_the_engine_leaves_each_fills_sides_under_the_parameters_in_force() -> None:
    engine = RiskEngine(DEFAULT_MARKETS)
    first = engine.params
    raised = AdminCommand(id="admin:set", ts=T0, admin="boss", action="set_market_params", market=BTC,
                          reason="volatility", imr=D("0.2"), mmr=D("0.12"), max_funding_per_hour=D("0.002"),
                          effective_at=T0 + 500)
    out = run(engine, tick(T0, "100"), change(T0, "deposit", "1000"), fill(T0 + 100, "buy", "2", "100"), raised,
              fill(T0 + 1000, "sell", "3", "100"), fill(T0 + 2000, "buy", "1", "100"),
              change(T0 + 3000, "deposit", "1"))
    assert [(s.fill.ts - T0, s.before, s.after, s.params) for s in out.sides] == [
        (100, "flat", "long", first), (1000, "long", "short", engine.params), (2000, "short", "flat", engine.params)]
    assert engine.params != first and out.signals == []  # the engine raises no skew itself


def shard_of(key: str) -> int:
    return int(key.startswith(("b", "d", "f")))


def test_an_engine_holding_some_accounts_publishes_what_one_holding_all_does_and_the_owner_skews_alike() -> None:
    # six holders of SOL, the first short, the others long: skewed long at the fifth; then four flip short, the
    # last inside the cool-down, so the short skew fires at the next fill after it (one that moves no side)
    events = [tick(T0, "100")]
    for n, wallet in enumerate("abcdef"):
        events += [change(T0 + n, "deposit", "1000", wallet),
                   fill(T0 + 100 + n, "sell" if wallet == "a" else "buy", "1", "100", wallet=wallet)]
    events += [fill(T0 + 200 * n, "sell", "2", "100", wallet=wallet) for n, wallet in enumerate("bcde", 1)]
    events.append(fill(T0 + 700_000, "buy", "1", "100", wallet="f"))
    one, owner = RiskEngine(DEFAULT_MARKETS), OpenInterest(NAMES)
    shards, shared = [RiskEngine(DEFAULT_MARKETS), RiskEngine(DEFAULT_MARKETS)], OpenInterest(NAMES)
    alone, split = Outputs(), Outputs()
    for event in events:
        caused = one.apply(event)
        alone.extend(caused).extend(owner.take(caused))
        mine = [shards[shard_of(event.wallet)]] if hasattr(event, "wallet") else shards  # a tick goes to both
        for shard in mine:
            theirs = shard.apply(event)
            split.extend(theirs).extend(shared.take(theirs))
            if hasattr(event, "wallet"):  # an account's event: its shard publishes what one engine does
                assert published(theirs) == published(caused)
    skews = [(s.ts - T0, s.data["side"], s.data["longs"], s.data["shorts"]) for s in alone.signals
             if s.kind == "open_interest_skew"]
    assert skews == [(104, "long", 4, 1), (700_000, "short", 1, 5)]
    assert published(Outputs(signals=split.signals, audit=[a for a in split.audit if a.subject == SOL])) == \
        published(Outputs(signals=alone.signals, audit=[a for a in alone.audit if a.subject == SOL]))
    assert shared.to_row() == owner.to_row()
    assert {account_key(w, 0) for w in "abcdef"} == set(shards[0].accounts) | set(shards[1].accounts)
