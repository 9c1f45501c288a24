"""A seeded trading day in miniature for crash tests: simulated markets and traders, leveraged longs that a
SOL drop liquidates, funding hours closing on the way, as one replay file; and how a crash run's tables are held to
an uninterrupted run's (`same_rows`)."""

import random
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Iterable

import orjson
import pytest

from quantdesk.kafka.publisher import Keyed
from quantdesk.settings import Settings
from streams.sources.simulator import Simulator

# a crash run alone takes up to ~5 min on this 2-core machine, more under load: past the suite's 300 s, which is
# for a hang, not a speed limit (its SIGALRM lands in whatever runs, e.g. the sink's loop, which then stops)
CRASH_RUN = [pytest.mark.heavy, pytest.mark.timeout(900)]
START_MS = 1_767_222_000_000  # 2025-12-31T23:00:00Z: the run crosses the hours that follow
DROP = 0.985  # SOL's factor per step while it falls
DROP_STEPS = 12
STEPS, ACCOUNTS, LEVERAGED = 11_000, 400, 40  # the risk kill runs' day: ~90k events, three funding hours


@dataclass(frozen=True)
class Day:
    """A seeded day, its replay file, and every table an uninterrupted run of it stored."""

    events: list[Keyed]
    replay: Path
    tables: dict[str, list[tuple]]


def leveraged_longs(sim: Simulator, count: int, rng: random.Random) -> list[Keyed]:
    """Return deposits of 1000 and SOL longs of 7x to 9.5x at the current price, one per wallet."""
    price = Decimal(str(round(sim.prices["SOL-PERP"], 3)))
    events: list[Keyed] = []
    for n in range(count):
        wallet, ts = f"lev{n:03d}", sim.now + n
        size = (Decimal(1000) * Decimal(rng.randrange(70, 95)) / 10 / price).quantize(Decimal("0.01"))
        events += [("accounts.changes", f"{wallet}:0", {"id": f"lev:{n}:deposit", "ts": ts, "wallet": wallet,
                                                        "kind": "deposit", "amount": "1000"}),
                   ("trades.fills", f"{wallet}:0", {"id": f"lev:{n}:buy", "ts": ts + 1, "market": "SOL-PERP",
                                                    "wallet": wallet, "side": "buy", "size": str(size),
                                                    "price": str(price), "fee": "1", "liquidity": "taker"})]
    return events


def scenario(steps: int, accounts: int, leveraged: int, seed: int = 11, order_flow: bool = True) -> list[Keyed]:
    """Return the events of `steps` one-second steps: SOL falls ~17 % a third of the way in, then recovers; without
    `order_flow`, no makers' orders and venue books (the same ticks and fills, the fills naming no order), which are
    most of the events and none of the risk worker's."""
    settings = Settings(simulator_accounts=accounts, simulator_tick_ms=1000, simulator_books=order_flow)
    sim, rng = Simulator(settings, START_MS, seed=seed), random.Random(seed)
    events: list[Keyed] = []
    for step in range(steps):
        if step == 30:
            events += leveraged_longs(sim, leveraged, rng)
        if steps // 3 <= step < steps // 3 + DROP_STEPS:
            sim.prices["SOL-PERP"] *= DROP
        if 2 * steps // 3 <= step < 2 * steps // 3 + DROP_STEPS:
            sim.prices["SOL-PERP"] /= DROP
        events += sim.step()
    return events


def write_replay(path: Path, events: list[Keyed]) -> Path:
    """Write events as a replay file; return its path."""
    path.write_bytes(b"".join(orjson.dumps({"topic": t, "value": v}) + b"\n" for t, _, v in events))
    return path


def same_rows(reference: dict[str, list[tuple]], got: dict[str, list[tuple]], tables: Iterable[str]) -> None:
    """Assert each table holds the reference's rows, saying what differs in those that do not (named, not diffed:
    pytest's diff of 50k rows runs for many minutes)."""
    differing = [t for t in tables if got[t] != reference[t]]
    assert not differing, "; ".join(differences(t, reference[t], got[t]) for t in differing)


def differences(table: str, reference: list[tuple], got: list[tuple]) -> str:
    """Say how a table's rows (id first) differ from the reference's: how many ids are missing, extra or changed,
    and the first of each."""
    want, have = {r[0]: r for r in reference}, {r[0]: r for r in got}
    missing, extra = sorted(want.keys() - have.keys()), sorted(have.keys() - want.keys())
    changed = sorted(k for k in want.keys() & have.keys() if want[k] != have[k])
    return (f"{table}: {len(reference)} rows against {len(got)}; {len(missing)} missing {missing[:4]}, "
            f"{len(extra)} extra {extra[:4]}, {len(changed)} changed {[(want[k], have[k]) for k in changed[:1]]}")
