"""The simulated liquidation venue: a plan's closes filled at the plan's price against one liquidator account."""

import random
from decimal import Decimal
from typing import Any

import base58

from quantdesk.kafka.publisher import Keyed
from quantdesk.messages import LiquidationPlan, PlannedClose

LIQUIDATOR = base58.b58encode(bytes(random.Random("quantdesk venue liquidator").getrandbits(8) for _ in range(32))).decode()
LIQUIDATOR_FLOAT = Decimal(10_000_000)
OPPOSITE = {"buy": "sell", "sell": "buy"}


def liquidator_float(ts: int) -> Keyed:
    """Return the liquidator's one deposit, at event time `ts` (its first plan's): its id makes a second one a
    no-op."""
    return ("accounts.changes", f"{LIQUIDATOR}:0", {
        "id": f"venue:float:{LIQUIDATOR}", "ts": ts, "wallet": LIQUIDATOR, "subaccount": 0, "kind": "deposit",
        "amount": str(LIQUIDATOR_FLOAT), "signature": "", "slot": 0})


def liquidation_fills(plan: LiquidationPlan) -> list[Keyed]:
    """Return the fills that carry out a plan: the account takes at the plan's price, the liquidator makes."""
    out: list[Keyed] = []
    for n, close in enumerate(plan.closes):
        out.append(("trades.fills", f"{plan.wallet}:{plan.subaccount}",
                    venue_fill(plan, n, close, plan.wallet, plan.subaccount, close.side, close.fee, "taker")))
        out.append(("trades.fills", f"{LIQUIDATOR}:0",
                    venue_fill(plan, n, close, LIQUIDATOR, 0, OPPOSITE[close.side], -close.liquidator_fee, "maker")))
    return out


def venue_fill(plan: LiquidationPlan, n: int, close: PlannedClose, wallet: str, subaccount: int, side: str,
               fee: Decimal, liquidity: str) -> dict[str, Any]:
    """Return one account's side of close `n` of a plan."""
    return {"id": f"{plan.id}:{n}:{side}", "ts": plan.ts, "market": close.market, "wallet": wallet,
            "subaccount": subaccount, "side": side, "size": str(close.size), "price": str(close.price),
            "fee": str(fee), "liquidity": liquidity, "signature": "", "slot": 0, "liquidation": plan.id}
