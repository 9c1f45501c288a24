"""The live state: MIKEY's signals (a market signal is held for its market's room, an account signal, even one that
names a market, goes to its wallet alone and is never held where a market's subscribers would see it), account states
and fills."""

from decimal import Decimal

import pytest

from api import channels
from api.accounts import LiveAccounts
from api.channels import Subscription
from api.live import LiveState, account_signal, market_signal
from quantdesk.messages import Fill
from quantdesk.settings import Settings
from tests.api.held import T0, snapshot
from tests.api.history import signal
from tests.api.rooms import events, gateway_of, member

MARKETS = ("BTC-PERP", "ETH-PERP", "SOL-PERP")


def market(name: str, ts: int, market_name: str = "SOL-PERP") -> dict:
    """Return a market signal as it comes off `mikey.signals`."""
    return signal(name, ts, "funding_flip", "info", f"{market_name} funding flipped", market=market_name).model_dump()


def alert(name: str, ts: int, wallet: str, market_name: str | None = "SOL-PERP") -> dict:
    """Return an account signal of `wallet:0`, naming a market unless None."""
    return signal(name, ts, "health_crossed", "critical", f"Health 8.0 on {wallet}:0, under 10", market=market_name,
                  wallet=wallet, subaccount=0).model_dump()


def test_an_account_signal_naming_a_market_is_news_for_its_wallet_and_held_for_no_market() -> None:
    live = LiveState(MARKETS)
    assert live.apply("mikey.signals", alert("a", T0, "alice"))
    assert live.apply("mikey.signals", alert("b", T0 + 1, "bob", None))
    assert live.apply("mikey.signals", market("m", T0 + 2))
    assert not live.apply("mikey.signals", market("m", T0 + 2))  # the same id again: no news
    assert {m: [s["id"] for s in held] for m, held in live.signals.items()} == {"SOL-PERP": ["funding_flip:SOL-PERP:m"]}
    snapshot = channels.snapshot(Subscription(channel="signals", market="SOL-PERP"), live, LiveAccounts(live))
    assert [s["id"] for s in snapshot] == ["funding_flip:SOL-PERP:m"]


def test_a_signal_that_is_neither_a_markets_nor_a_wallets_is_no_news() -> None:
    live = LiveState(MARKETS)
    orphan = {**alert("o", T0, "alice"), "wallet": None}  # a sub-account but no wallet: nobody to deliver it to
    mislabelled = {**market("x", T0), "subject": "alice:0"}  # no wallet, but an account's subject
    for event in (orphan, mislabelled, market("u", T0, "DOGE-PERP"), {**market("bad", T0), "severity": "loud"}):
        assert not live.apply("mikey.signals", event), event
    assert live.signals == {}
    assert account_signal(orphan) and not market_signal(orphan) and not market_signal(mislabelled)


async def test_an_alert_reaches_its_wallets_rooms_only_and_a_market_signal_its_market_room(settings: Settings) -> None:
    gateway = gateway_of(settings)
    sol, btc = await member(gateway, "s", "signals:SOL-PERP"), await member(gateway, "b", "signals:BTC-PERP")
    alice, bob = await member(gateway, "a", "account:alice-session"), await member(gateway, "o", "account:bob-session")
    gateway.pushes.watch("alice", "account:alice-session")
    gateway.pushes.watch("bob", "account:bob-session")
    for event in (alert("1", T0, "alice"), alert("2", T0 + 1, "bob", "BTC-PERP"), market("3", T0 + 2)):
        assert gateway.live.apply("mikey.signals", event)
        await gateway.on_event("mikey.signals", event)
    assert [(name, d["kind"], d["wallet"], d["data"]["id"]) for name, d in events(alice)] == [
        ("account", "alert", "alice", "health_crossed:alice:0:1")]
    assert [(name, d["kind"], d["wallet"], d["data"]["id"]) for name, d in events(bob)] == [
        ("account", "alert", "bob", "health_crossed:bob:0:2")]
    assert [(name, d["market"], d["data"]["id"]) for name, d in events(sol)] == [
        ("signals", "SOL-PERP", "funding_flip:SOL-PERP:3")]
    assert list(events(btc)) == []


def test_the_newest_account_state_is_held_and_its_longs_counted_into_open_interest_once() -> None:
    live = LiveState(MARKETS)
    assert live.apply("accounts.state",
                      snapshot("w", 0, T0, "1000", ("SOL-PERP", "30", "100"), ("BTC-PERP", "-1", "9")))
    assert live.apply("accounts.state", snapshot("w", 1, T0, "1000", ("SOL-PERP", "2.5", "100")))
    assert live.apply("accounts.state", snapshot("w", 0, T0 + 1, "900", ("SOL-PERP", "10", "100")))
    assert not live.apply("accounts.state", snapshot("w", 0, T0, "1000", ("SOL-PERP", "30", "100")))  # older
    assert live.accounts["w"][0]["collateral"] == "900"
    assert (live.open_interest("SOL-PERP"), live.open_interest("BTC-PERP")) == (Decimal("12.5"), 0)


@pytest.mark.parametrize("spoil", [
    {"wallet": 7}, {"subaccount": "0"}, {"ts": "later"}, {"positions": 3}, {"positions": ["x"]},
    {"positions": [{"market": "SOL-PERP", "size": "Infinity"}]}, {"positions": [{"market": "SOL-PERP", "size": "x"}]},
    {"positions": [{"market": None, "size": "1"}]}, {"positions": [{"size": "1"}]}], ids=repr)
def test_a_malformed_account_state_is_no_news_and_changes_nothing(spoil: dict) -> None:
    live = LiveState(MARKETS)
    live.apply("accounts.state", snapshot("w", 0, T0, "1000", ("SOL-PERP", "30", "100")))
    held = {**live.accounts["w"]}
    assert not live.apply("accounts.state", {**snapshot("w", 0, T0 + 1, "5", ("SOL-PERP", "1", "100")), **spoil})
    assert live.accounts["w"] == held and live.open_interest("SOL-PERP") == Decimal(30)


async def test_a_fill_is_validated_once_and_pushed_as_the_model_its_record_made(settings: Settings) -> None:
    gateway = gateway_of(settings)
    tape, alice = await member(gateway, "t", "trades:SOL-PERP"), await member(gateway, "a", "account:alice-session")
    gateway.pushes.watch("alice", "account:alice-session")
    event = {"id": "fill:1", "ts": T0, "market": "SOL-PERP", "wallet": "alice", "subaccount": 0, "side": "buy",
             "size": "2.50", "price": "100.10", "fee": "0.01", "liquidity": "taker"}
    news = gateway.live.apply("trades.fills", event)
    assert isinstance(news, Fill) and (news.size, news.price) == (Decimal("2.5"), Decimal("100.1"))
    assert gateway.live.apply("trades.fills", event) is None  # the same id again: no news
    await gateway.on_event("trades.fills", news)
    assert [(d["data"]["size"], d["data"]["price"]) for _, d in events(tape)] == [("2.5", "100.1")]
    assert [(d["kind"], d["data"]["size"], d["data"]["fee"]) for _, d in events(alice)] == [("fill", "2.5", "0.01")]
