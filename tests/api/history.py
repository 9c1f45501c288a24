"""A little history stored as the sink stores it: BTC-PERP ticks, their states, trades and funding; a wallet's fills,
funding and orders."""

from decimal import Decimal
from typing import Any

from quantdesk.messages import (Fill, FundingPayment, FundingRate, MarketState, OracleTick, OrderEvent, OrderState,
                                Signal)
from quantdesk.warehouse import Warehouse
from streams.agents.sink import TableWriter
from streams.domain.market_tracker import MarketTracker
from streams.domain.orders import Orders

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, a day boundary


def fills(n: int) -> list[Fill]:
    """Return `n` trades of BTC-PERP (taker and maker side each), two of them in the same millisecond."""
    made = []
    for i in range(n):
        ts = T0 + 1000 * i if i != 3 else T0 + 2000
        for liquidity, side in (("taker", "buy" if i % 2 else "sell"), ("maker", "sell" if i % 2 else "buy")):
            made.append(Fill(id=f"trade-{i:02d}:{liquidity}", ts=ts, market="BTC-PERP", wallet=f"wallet-{liquidity}",
                             side=side, size=Decimal("0.5"), price=Decimal(97000 + i), liquidity=liquidity))
    return made


def btc_ticks() -> list[OracleTick]:
    """Return ten BTC ticks 30 s apart at 97000 + i, and at 45 s one at three times that, which the guard refuses."""
    ticks = [OracleTick(id=f"tick-{i}", ts=T0 + 30_000 * i, market="BTC-PERP", price=Decimal(97000 + i),
                        conf=Decimal(1), publish_time=T0 + 30_000 * i) for i in range(10)]
    spike = OracleTick(id="tick-spike", ts=T0 + 45_000, market="BTC-PERP", price=Decimal(291_000), conf=Decimal(1),
                       publish_time=T0 + 45_000)
    return sorted([*ticks, spike], key=lambda t: t.ts)


def market_states(ticks: list[OracleTick]) -> list[MarketState]:
    """Return the states the market worker publishes for `ticks`."""
    tracker = MarketTracker("BTC-PERP")
    return [tracker.on_tick(t) for t in ticks]


def store(warehouse: Warehouse, table: str, events: list[Any]) -> None:
    """Store events in a table as the sink would."""
    writer = TableWriter(warehouse, table)
    warehouse.insert_new(table, writer.columns, [writer.row(e.model_dump()) for e in events])


def seed_history(warehouse: Warehouse) -> None:
    """Store BTC ticks (one refused) and their market states, seven trades and three funding periods, as the sink
    would."""
    rates = [FundingRate(id=f"funding:{h}", ts=T0 + 3_600_000 * h, market="BTC-PERP",
                         period_start=T0 + 3_600_000 * (h - 1), period_end=T0 + 3_600_000 * h,
                         oracle_twap=Decimal(97000), mark_twap=Decimal(97010), rate=Decimal("0.0000042"),
                         cumulative_index=Decimal("0.4") * h) for h in (1, 2, 3)]
    ticks = btc_ticks()
    for table, events in (("oracle_ticks", ticks), ("market_state", market_states(ticks)), ("fills", fills(7)),
                          ("funding_rates", rates)):
        store(warehouse, table, events)


def wallet_fills(wallet: str) -> list[Fill]:
    """Return three fills of `wallet` (sub-accounts 0 and 1) and one of another wallet."""
    def fill(i: int, who: str, sub: int, market: str, side: str, size: str, price: str, fee: str) -> Fill:
        return Fill(id=f"{who}:fill-{i}", ts=T0 + 1000 * i, market=market, wallet=who, subaccount=sub, side=side,
                    size=Decimal(size), price=Decimal(price), fee=Decimal(fee))
    return [fill(1, wallet, 0, "SOL-PERP", "buy", "30", "100", "1.5"),
            fill(2, wallet, 1, "BTC-PERP", "sell", "0.1", "97000", "4.85"),
            fill(3, wallet, 0, "SOL-PERP", "sell", "10", "101", "0.505"),
            fill(4, "someone", 0, "SOL-PERP", "buy", "5", "100", "0.25")]


def wallet_payments(wallet: str) -> list[FundingPayment]:
    """Return two hourly funding payments of `wallet` (one paid, one received) and one of another wallet."""
    def payment(h: int, who: str, size: str, paid: str, index: str) -> FundingPayment:
        return FundingPayment(id=f"funding:SOL-PERP:{T0 + 3_600_000 * h}:{who}:0", ts=T0 + 3_600_000 * h,
                              market="SOL-PERP", wallet=who, size=Decimal(size), payment=Decimal(paid),
                              cumulative_index=Decimal(index))
    return [payment(1, wallet, "20", "0.3", "0.015"), payment(2, wallet, "20", "-0.1", "0.01"),
            payment(1, "someone", "5", "0.075", "0.015")]


def seed_wallet(warehouse: Warehouse, wallet: str) -> None:
    """Store a wallet's fills and funding payments (and another wallet's) as the sink would."""
    store(warehouse, "fills", wallet_fills(wallet))
    store(warehouse, "funding_payments", wallet_payments(wallet))


def signal(name: str, ts: int, kind: str, severity: str, message: str, market: str | None = None,
           wallet: str | None = None, subaccount: int | None = None) -> Signal:
    """Return a signal as MIKEY publishes it: about a market, or (with a wallet) about a sub-account."""
    subject = f"{wallet}:{subaccount}" if wallet else market
    assert subject is not None
    return Signal(id=f"{kind}:{subject}:{name}", ts=ts, kind=kind, severity=severity, subject=subject,
                  message=message, market=market, wallet=wallet, subaccount=subaccount,
                  data={"figure": "1.5", "n": 1}, causes=[f"cause-{name}"])


def mikey_signals(wallet: str) -> list[Signal]:
    """Return four market signals and four account signals: three of `wallet` (sub-accounts 0 and 1, two naming a
    market) and one of another wallet naming SOL-PERP."""
    return [
        signal("1", T0 + 1000, "funding_flip", "info", "SOL-PERP funding flipped", market="SOL-PERP"),
        signal("2", T0 + 1500, "health_crossed", "warning", f"Health 48.0 on {wallet}:0, under 50",
               market="SOL-PERP", wallet=wallet, subaccount=0),
        signal("3", T0 + 2000, "whale_fill", "info", "A $150,000 BTC-PERP buy", market="BTC-PERP"),
        signal("4", T0 + 2200, "health_crossed", "critical", "Health 8.0 on someone:0, under 10", market="SOL-PERP",
               wallet="someone", subaccount=0),
        signal("5", T0 + 2500, "liquidation_near", "critical", "BTC-PERP liquidation price 2.0 % away",
               market="BTC-PERP", wallet=wallet, subaccount=1),
        signal("6", T0 + 3000, "volatility_spike", "warning", "SOL-PERP volatility 4.1x its baseline",
               market="SOL-PERP"),
        signal("7", T0 + 3000, "oracle_degraded", "critical", "BTC-PERP oracle degraded", market="BTC-PERP"),
        signal("8", T0 + 4000, "health_recovered", "info", f"Health 55.0 on {wallet}:0, back over 50",
               wallet=wallet, subaccount=0),
    ]


def seed_signals(warehouse: Warehouse, wallet: str) -> None:
    """Store MIKEY's signals of the markets, of `wallet` and of another wallet, as the sink would."""
    store(warehouse, "signals", mikey_signals(wallet))


def placed(wallet: str, order: str, ts: int, size: str, price: str = "100", side: str = "buy") -> OrderEvent:
    """Return a SOL-PERP limit order of `wallet` placed at `ts`."""
    return OrderEvent(id=f"place:{order}", ts=ts, market="SOL-PERP", wallet=wallet, kind="placed", side=side,
                      size=Decimal(size), price=Decimal(price), order_type="Limit", order=order)


def order_fill(wallet: str, order: str, ts: int, size: str, price: str, side: str = "buy") -> Fill:
    """Return a maker fill of an order of `wallet`."""
    return Fill(id=f"fill:{order}:{ts}", ts=ts, market="SOL-PERP", wallet=wallet, side=side, size=Decimal(size),
                price=Decimal(price), liquidity="maker", order=order)


def cancelled(wallet: str, order: str, ts: int) -> OrderEvent:
    """Return the cancellation of an order of `wallet`."""
    return OrderEvent(id=f"cancel:{order}", ts=ts, market="SOL-PERP", wallet=wallet, kind="cancelled", order=order)


def order_lifecycles(wallet: str) -> list[OrderEvent | Fill]:
    """Return, in apply order, four orders of `wallet`: `o1` partly filled (4 of 10), `o2` filled in two fills,
    `o3` cancelled after a fill, `o4` open; and an open order `x1` of another wallet."""
    return [placed(wallet, "o1", T0, "10"), placed(wallet, "o2", T0 + 1000, "5", "101", "sell"),
            order_fill(wallet, "o1", T0 + 1500, "4", "99.5"), order_fill(wallet, "o2", T0 + 1600, "2", "101", "sell"),
            placed(wallet, "o3", T0 + 2000, "3"), order_fill(wallet, "o3", T0 + 2100, "1", "100"),
            cancelled(wallet, "o3", T0 + 2200), placed(wallet, "o4", T0 + 3000, "7", "98"),
            order_fill(wallet, "o2", T0 + 3100, "3", "101.5", "sell"), placed("someone", "x1", T0 + 500, "1")]


def order_states(events: list[OrderEvent | Fill]) -> list[OrderState]:
    """Return every state the orders worker publishes for `events`, taken in the order given."""
    orders = Orders()
    outcomes = [orders.apply(e) for e in events]
    return [o.state for o in outcomes if o is not None and o.state is not None]


def seed_orders(warehouse: Warehouse, wallet: str) -> None:
    """Store the states of `order_lifecycles` as the sink would."""
    store(warehouse, "orders", order_states(order_lifecycles(wallet)))
