"""The CPU cost of MIKEY's rules per event: the same event stream folded through the risk engine (with the open
interest its fills feed) and the markets fold with the rules on, and with them off (the baseline, same run, same
process)."""

import time
from collections import Counter
from typing import Any

from bench.events import simulated
from quantdesk.messages import AccountChange, Fill, OracleTick, VenuePrice
from quantdesk.settings import Settings
from streams.domain.markets import Markets
from streams.domain.alerts import Thresholds
from streams.risk.engine import RiskEngine
from streams.risk.owners import Owners
from streams.risk.reorder import Event, order_key

MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "accounts.changes": AccountChange,
          "venues.prices": VenuePrice}
REPEATS = 2  # timed folds per mode, alternating off and on; the fastest of each counts


def fold(settings: Settings, events: list[Event], thresholds: Thresholds | None) -> tuple[float, int]:
    """Fold `events` through a new engine (the records it leaves through new owners, as the risk worker does) and
    markets fold; return the CPU seconds it took and the signals raised."""
    engine = RiskEngine(settings.markets, thresholds)  # its re-mark compiled (or loaded) here, not timed
    owners = Owners(settings.market_names, thresholds)
    markets = Markets(settings.market_names, thresholds)
    raised = 0
    started = time.process_time()
    for event in events:
        if not isinstance(event, VenuePrice):
            raised += len(owners.after(engine.apply(event)).signals)
        if not isinstance(event, AccountChange):
            markets.apply(event)  # type: ignore[arg-type]
            raised += len(markets.take_signals())
    return time.process_time() - started, raised


def signal_cost(settings: Settings, count: int, start_ms: int) -> dict[str, Any]:
    """Return µs of CPU per event with the rules on and off, their ratio, and what was folded."""
    raw, _ = simulated(settings, count, start_ms, venue_prices=True)  # the divergence rule reads them
    events = sorted((MODELS[t].model_validate(e) for t, _, e in raw if t in MODELS), key=order_key)
    thresholds = Thresholds.of(settings)
    off, on, raised = [], [], 0
    for _ in range(REPEATS):
        off.append(fold(settings, events, None)[0])
        seconds, raised = fold(settings, events, thresholds)
        on.append(seconds)
    us_on, us_off = min(on) * 1e6 / len(events), min(off) * 1e6 / len(events)
    return {"us_per_event": us_on, "baseline_us_per_event": us_off, "ratio": us_on / us_off if us_off else None,
            "events": len(events), "signals": raised, "repeats": REPEATS,
            "mix": dict(sorted(Counter(type(e).__name__ for e in events).items())),
            "what": "RiskEngine.apply, OpenInterest.take and the markets fold (Markets.apply) over the simulator's "
                    "events in apply order, MIKEY's rules on (settings' thresholds), CPU time of this process, "
                    "fastest of the repeats",
            "baseline": "the same fold with the rules off (RiskEngine(markets, None), OpenInterest(names, None), "
                        "Markets(names, None))"}
