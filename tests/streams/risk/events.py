"""Worked inputs for the risk engine's tests: events, a run over them, the snapshots it publishes."""

from decimal import Decimal as D
from weakref import WeakKeyDictionary

from quantdesk.markets import DEFAULT_MARKETS
from quantdesk.messages import AccountChange, Fill, OracleTick, account_key
from streams.risk.engine import RiskEngine
from streams.risk.liquidator import liquidator_float
from streams.risk.outputs import Outputs
from streams.risk.owners import Owners

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, on the hour
SOL, BTC = "SOL-PERP", "BTC-PERP"
ALICE = "alice:0"
OWNERS: WeakKeyDictionary[RiskEngine, Owners] = WeakKeyDictionary()


def tick(ts: int, price: str, market: str = SOL, conf: str = "0.01") -> OracleTick:
    return OracleTick(id=f"tick:{market}:{ts}", ts=ts, market=market, price=D(price), conf=D(conf), publish_time=ts)


def fill(ts: int, side: str, size: str, price: str, fee: str = "0", market: str = SOL, wallet: str = "alice",
         liquidity: str = "taker") -> Fill:
    return Fill(id=f"fill:{wallet}:{market}:{ts}", ts=ts, market=market, wallet=wallet, side=side, size=D(size),
                price=D(price), fee=D(fee), liquidity=liquidity)


def change(ts: int, kind: str, amount: str, wallet: str = "alice") -> AccountChange:
    return AccountChange(id=f"{kind}:{wallet}:{ts}", ts=ts, wallet=wallet, kind=kind, amount=D(amount))


def owners_of(engine: RiskEngine) -> Owners:
    """Return the owners `run` feeds this engine's records to (the open interest, the insurance fund), as the
    worker's owners are fed."""
    if engine not in OWNERS:
        OWNERS[engine] = Owners([name for name in engine.markets], engine.thresholds)
    return OWNERS[engine]


def run(engine: RiskEngine, *events) -> Outputs:
    """Apply events in order, the records each leaves through the engine's owners right after it, as one task's
    owners apply them; return everything they cause."""
    out, owners = Outputs(), owners_of(engine)
    for event in events:
        out.extend(owners.after(engine.apply(event)))
    return out


def long_80_sol() -> RiskEngine:
    """Return 1000 deposited, SOL at 100, long 80 SOL at 100 paying a 4 fee; the venue's float in."""
    engine = RiskEngine(DEFAULT_MARKETS)
    run(engine, AccountChange.model_validate(liquidator_float(T0)[2]), change(T0, "deposit", "1000"),
        tick(T0 + 1000, "100"), fill(T0 + 2000, "buy", "80", "100", "4"))
    return engine


def figures(out: Outputs, key: str = ALICE) -> dict:
    """Return the last snapshot of an account as plain data."""
    states = [s for s in out.states if account_key(s.wallet, s.subaccount) == key]
    return states[-1].model_dump(mode="json")
