"""The engine's tables: an engine rebuilt from them after any release goes on exactly like one never stopped."""

from decimal import Decimal as D
from typing import Any

import orjson
import pytest

from bench.holders import FILLED, MARKET, PRICES, built_engine, closes, moves, new_engine

from quantdesk.markets import DEFAULT_MARKETS, Market
from quantdesk.messages import AccountChange, AdminCommand, Fill, OracleTick
from quantdesk.settings import Settings
from streams.domain.funding import HOUR_MS
from streams.risk.board import MarketBook
from streams.risk.engine import RiskEngine
from streams.risk.liquidator import liquidation_fills, liquidator_float
from streams.risk.market_risk import MarketRisk
from streams.domain.alerts import AlertGate, Thresholds
from streams.risk.owners import Owners
from streams.risk.outputs import Outputs
from streams.risk.restatement import Holdings
from streams.risk.reorder import DAY_MS, Event, ReorderBuffer, order_key
from streams.risk.store import BOARD, BUCKET_MS, ENGINE, EngineStore
from streams.sources.simulator import Simulator
from tests.streams.cuts import in_releases
from tests.streams.risk.events import change

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z: the simulated minutes cross this hour
JUP = Market(name="JUP-PERP", feed_id="0" * 64, imr=D("0.10"), mmr=D("0.05"))
MARKETS = (*DEFAULT_MARKETS, JUP)
MODELS = {"oracle.ticks": OracleTick, "trades.fills": Fill, "accounts.changes": AccountChange,
          "admin.commands": AdminCommand}
RELEASES = (7, 1, 240)  # events per release, in turn: a few, or 40 s of markets at once


def jup_tick(ts: int, price: str) -> dict:
    return {"id": f"jup:{ts}", "ts": ts, "market": "JUP-PERP", "price": price, "conf": "0.01", "publish_time": ts}


def crash(t0: int) -> list[tuple[str, dict]]:
    """Return a long on JUP-PERP that the price takes under MM, a tick the TWAP guard rejects, a refused
    withdrawal."""
    def fill(ts: int) -> dict:
        return {"id": "crash:buy", "ts": ts, "market": "JUP-PERP", "wallet": "crasher", "side": "buy", "size": "80",
                "price": "100", "fee": "4"}
    return [("accounts.changes", {"id": "crash:deposit", "ts": t0, "wallet": "crasher", "kind": "deposit",
                                  "amount": "1000"}),
            ("oracle.ticks", jup_tick(t0 + 1000, "100")), ("trades.fills", fill(t0 + 2000)),
            *(("oracle.ticks", jup_tick(t0 + n * 1000, p)) for n, p in ((3, "95"), (4, "93"), (5, "92"), (6, "100"))),
            ("oracle.ticks", jup_tick(t0 + 7000, "300")), ("oracle.ticks", jup_tick(t0 + 8000, "100")),
            ("accounts.changes", {"id": "crash:withdraw", "ts": t0 + 9000, "wallet": "crasher", "kind": "withdraw",
                                  "amount": "100000"})]


def bankrupt(t0: int) -> list[tuple[str, dict]]:
    """Return a long on JUP-PERP bought far over the oracle just after the crash's plan: closed out at a deficit,
    which draws what the crash's liquidation paid into the fund and socialises the rest."""
    return [("accounts.changes", {"id": "bankrupt:deposit", "ts": t0, "wallet": "bankrupt", "kind": "deposit",
                                  "amount": "50"}),
            ("trades.fills", {"id": "bankrupt:buy", "ts": t0 + 5500, "market": "JUP-PERP", "wallet": "bankrupt",
                              "side": "buy", "size": "10", "price": "110"})]


def releases(events: list[Event]) -> list[list[Event]]:
    """Return the events cut into releases of the sizes `RELEASES` names, in turn."""
    return in_releases(events, RELEASES)


def stranded(t0: int) -> list[tuple[str, dict]]:
    """Return an account liquidatable by a SOL fill while its JUP-PERP oracle is stale, planned once a JUP
    tick comes."""
    def fill(n: int, market: str, size: str, price: str) -> dict:
        return {"id": f"stranded:{n}", "ts": t0 + n * 1000, "market": market, "wallet": "stranded", "side": "buy",
                "size": size, "price": price}
    return [("accounts.changes", {"id": "stranded:deposit", "ts": t0, "wallet": "stranded", "kind": "deposit",
                                  "amount": "1000"}),
            ("trades.fills", fill(1, "JUP-PERP", "50", "100")), ("trades.fills", fill(85, "SOL-PERP", "10", "250")),
            ("oracle.ticks", jup_tick(t0 + 115_000, "100"))]


def paused(market: str, start: int, end: int) -> list[tuple[str, dict]]:
    """Return an admin's pause of a market at `start` and its resume at `end`."""
    return [("admin.commands", {"id": f"admin:{action}", "ts": ts, "admin": "boss", "action": action,
                                "market": market, "reason": "review"})
            for action, ts in (("pause_market", start), ("resume_market", end))]


def reparametrised(market: str, ts: int, effective_at: int) -> list[tuple[str, dict]]:
    """Return an admin's raise of a market's margin rates at `ts`, in force from `effective_at`."""
    return [("admin.commands", {"id": "admin:set", "ts": ts, "admin": "boss", "action": "set_market_params",
                                "market": market, "reason": "volatility", "imr": "0.2", "mmr": "0.12",
                                "max_funding_per_hour": "0.002", "effective_at": effective_at})]


def inputs(steps: int) -> list[Event]:
    """Return simulated markets over six minutes across 00:00, the crash, then two events sent twice."""
    sim = Simulator(Settings(), T0 - 200_000, seed=3)
    raw = [(t, e) for _ in range(steps) for t, _, e in sim.step() if t in MODELS]  # what the risk engine reads
    raw += crash(T0 - 150_000) + bankrupt(T0 - 150_000) + stranded(T0 - 145_000)
    raw += paused("ETH-PERP", T0 - 100_000, T0 - 40_000)
    raw += reparametrised("BTC-PERP", T0 - 120_000, T0 - 30_000) + [("admin.commands", {
        "id": "admin:freeze", "ts": T0 - 90_000, "admin": "boss", "action": "freeze_account", "wallet": "someone",
        "reason": "KYC"})]
    events = sorted((MODELS[t].model_validate(e) for t, e in raw), key=order_key)
    again = [MODELS[t].model_validate(e) for t, e in crash(T0 - 150_000)[:3:2]]
    return [AccountChange.model_validate(liquidator_float(T0 - 200_000)[2]), *events, *again]


class Worker:
    """The accounts worker without Kafka: releases through the buffer, each event's liquidation outcomes through the
    insurance fund, tables written after each unless told not to (then at `save`, as a checkpoint writes them), and
    a venue whose fills come with the next release (held back until then, as the worker does)."""

    def __init__(self, tables: dict[str, dict] | None = None, redelivered: list[Event] | None = None,
                 lateness_ms: int = DAY_MS) -> None:
        self.tables = tables or {"accounts": {}, "markets": {}, "applied": {}, "owners": {}}
        self.store = EngineStore(self.tables["accounts"], self.tables["markets"], self.tables["applied"])
        self.engine, self.buffer = RiskEngine(MARKETS), ReorderBuffer(grace_ms=0, max_lateness_ms=lateness_ms)
        self.store.load(self.engine, self.buffer)
        self.owners = Owners(self.engine.markets, Thresholds())  # their row kept beside the engine's tables
        if "owners" in self.tables["owners"]:
            self.owners.load_row(self.tables["owners"]["owners"])
        self.incoming = redelivered or []

    def release(self, events: list[Event], save: bool = True) -> Outputs:
        """Take the venue's fills and `events`, apply what is due in apply order; store what changed if `save`."""
        self.buffer.push([*self.incoming, *events])
        out, applied = Outputs(), []
        for event in self.buffer.drain():
            caused = self.owners.after(self.engine.apply(event))
            self.buffer.expect(f["id"] for plan in caused.liquidations for _, _, f in liquidation_fills(plan, 1))
            out.extend(caused)
            applied.append(event)
        if applied:
            self.buffer.settle(applied, {}, {})
            if save:
                self.save()
        self.incoming = [Fill.model_validate(f) for plan in out.liquidations for _, _, f in liquidation_fills(plan, 1)]
        return out

    def save(self) -> None:
        """Store what changed since the last save, and the owners' row."""
        self.store.save(self.engine, self.buffer)
        self.tables["owners"]["owners"] = self.owners.to_row()

    def unapplied(self) -> list[Event]:
        """Return what a restarted worker reads again: the venue's fills and the events still held."""
        return [*self.incoming, *(event for *_, event in sorted(self.buffer.heap))]

    def stored(self) -> dict[str, dict]:
        """Return the tables as their changelogs carry them (JSON)."""
        return orjson.loads(orjson.dumps(self.tables))


def dumped(outs: list[Outputs]) -> list[list[bytes]]:
    """Return every output message as JSON, in order."""
    return [[item.model_dump_json().encode() for name in vars(out) for item in getattr(out, name)] for out in outs]


def state(worker: Worker) -> dict[str, Any]:
    """Return what decides the engine's next outputs beyond its tables: the risk board over the accounts
    there are, the books, each market's TWAPs and what the buffer awaits."""
    engine = worker.engine
    board, n = engine.board, len(engine.board.keys)
    columns = {name: getattr(board, name)[..., :n].tolist() for name in ("band", "liquidatable", "shown", "restated")}
    return {"keys": list(board.keys), "cash": board.cash[:n].tolist(), **columns,
            "marks": [(m, dense[:, :n].tolist()) for m, dense in board.markets.items()],
            "books": {m: sorted(k.book.row) for m, k in engine.markets.items()},
            "twaps": {m: twaps(k) for m, k in engine.markets.items()}, "awaited": set(worker.buffer.awaited),
            "paused": {m: k.paused for m, k in engine.markets.items()},
            "frozen": dict(engine.frozen), "fund": worker.owners.fund.to_row(),
            "params": (engine.params, [m.params for m in engine.markets.values()], list(engine.scheduled),
                       {m: (rates(k.book), k.funding.max_rate) for m, k in engine.markets.items()})}


def rates(book: MarketBook) -> dict[int, list[float]]:
    """Return each holder's |size| × MMR and × IMR (by account slot: a restored book lays its rows out anew)."""
    return {slot: book.rates[:, row].tolist() for slot, row in book.row.items()}


def twaps(market: MarketRisk) -> tuple:
    """Return a market's 5-minute TWAP samples and its open hour's averages so far."""
    twap, funding = market.tracker.twap, market.funding
    hour = () if funding.period_end is None else (funding.period_end - HOUR_MS, funding.period_end)
    return (list(twap.times), list(twap.values), funding.oracle.average(*hour) if hour else None,
            funding.mark.average(*hour) if hour else None)


@pytest.mark.parametrize("lateness_ms", [DAY_MS, 60_000], ids=["everything-remembered", "a-minute-remembered"])
def test_an_engine_rebuilt_after_any_release_goes_on_exactly_like_the_one_never_stopped(lateness_ms: int) -> None:
    events = inputs(900)
    chunks = releases(events)
    whole = Worker(lateness_ms=lateness_ms)
    outs, saved = [], {}
    for n, chunk in enumerate(chunks):
        outs.append(whole.release(chunk, save=False))  # stored only at the cuts: one save for many releases
        if outs[-1].liquidations or n % 11 == 0 or whole.engine.liquidator.awaiting_oracle:
            whole.save()
            saved[n + 1] = (whole.stored(), whole.unapplied(), state(whole))
    whole.save()
    flat = Outputs()
    for out in outs:
        flat.extend(out)
    # the run crosses 00:00, plans three liquidations (one once a stale oracle is back, one a close-out whose
    # deficit draws the fund the first paid into), refuses a withdrawal; it is cut after every 11th release, every
    # plan, and every release that left an account awaiting an oracle
    assert flat.funding_payments and len(saved) > 10
    assert sorted(p.wallet for p in flat.liquidations) == ["bankrupt", "crasher", "stranded"]
    drawn = [a for a in flat.audit if a.action == "insurance_drawn"]
    assert len(drawn) == 1 and D(drawn[0].data["amount"]) < 0
    assert any(D(before["fund"]["balance"]) > 0 and D(before["fund"]["socialised"]) == 0
               for _, _, before in saved.values())  # a cut between the fund's credit and its draw
    assert [d.reason[:35] for d in flat.dead_letters] == ["crasher:0: withdrawal of 100000 USD"]
    assert any(before["paused"]["ETH-PERP"] == "review" for _, _, before in saved.values())  # a cut while paused
    assert any(before["params"][2] for _, _, before in saved.values())  # a cut with a change scheduled
    assert whole.engine.frozen == {"someone": "KYC"}
    assert whole.engine.markets["BTC-PERP"].params.mmr == D("0.12") and not whole.engine.scheduled
    assert any(s.kind == "open_interest_skew" for out in outs[min(saved):] for s in out.signals)  # after a cut
    for cut, (tables, unapplied, before) in saved.items():
        again = Worker(tables, unapplied, lateness_ms)
        assert state(again) == before
        assert dumped([again.release(chunk) for chunk in chunks[cut:]]) == dumped(outs[cut:]), f"cut at {cut}"
        # saved after every release, or once over up to 11: the same engine comes back (a board row saved later
        # holds its market's re-marks since, which a restore gives back anyway: `reinstate_marks`)
        assert state(Worker(again.stored())) == state(Worker(whole.stored())) == state(whole)


def test_tables_keep_only_what_the_open_hour_and_the_5_minute_twap_read() -> None:
    worker = Worker()
    for chunk in releases(inputs(900)):
        worker.release(chunk)
    markets = worker.tables["markets"]
    sol = markets["SOL-PERP"]
    # the hour from 00:00 keeps the sample current at 00:00 and its last: the average needs no others
    assert [s[0] for s in sol["oracle_samples"]] == [T0 - 400, worker.engine.markets["SOL-PERP"].tracker.last_valid_ts]
    slices = sorted(int(k.split("@")[1]) for k in markets if k.startswith("SOL-PERP@"))
    assert slices == list(range(slices[0], slices[-1] + 1)) and len(slices) <= 300_000 // BUCKET_MS + 2
    # the ids applied: all remembered, the run being shorter than the lateness window
    assert markets[ENGINE]["applied"] == sum(len(row["ids"]) for row in worker.tables["applied"].values())


def test_a_store_with_empty_tables_leaves_the_engine_new() -> None:
    engine, buffer = RiskEngine(MARKETS), ReorderBuffer(0)
    EngineStore({}, {}, {}).load(engine, buffer)
    assert (engine.accounts, engine.applied, buffer.seen) == ({}, 0, set())


def test_a_restored_buffer_drops_what_was_applied_and_keeps_its_clock() -> None:
    worker = Worker()
    worker.release(inputs(5)[:4])
    again = Worker(worker.stored())
    assert again.buffer.push(inputs(5)[:4]) == [] and again.buffer.newest == worker.buffer.newest


def test_the_applied_table_keeps_the_lateness_window_and_a_restored_worker_still_applies_nothing_twice() -> None:
    events, whole = inputs(900), Worker(lateness_ms=60_000)
    for chunk in releases(events):
        whole.release(chunk)
    rows, oldest = whole.tables["applied"], whole.buffer.newest - 60_000
    remembered = [i for row in rows.values() for i in row["ids"]]
    assert 0 < len(remembered) < whole.engine.applied / 2 and min(r["newest"] for r in rows.values()) >= oldest
    again = Worker(whole.stored(), lateness_ms=60_000)
    forgotten = next(e for e in events if e.id not in remembered)
    kept = next(e for e in events if e.id == remembered[-1])
    assert again.buffer.late(forgotten) and not again.buffer.late(kept)  # refused as late; dropped as seen
    assert again.buffer.push([forgotten, kept]) == [] and dumped([again.release([])]) == [[]]


def test_a_restatement_that_moves_only_figures_writes_the_boards_slices_and_no_account_row() -> None:
    # a checkpoint wrote each restated holder's row: 43.8 MB of JSON for a 1 % move over 100k holders
    engine, buffer = built_engine(5_000), ReorderBuffer(0)  # slots in two slices
    store = EngineStore.journaled()
    store.save(engine, buffer)

    def changed() -> dict[str, dict]:
        return {name: journal.take_changes() for name, journal in store.tables.items()}
    assert len(changed()["accounts"]) == 5_000
    out = engine.apply(moves(1)[0])
    store.save(engine, buffer)
    rows = changed()
    assert len(out.states) > 3_000 and rows["accounts"] == {}  # the states published stay: figures only
    assert sorted(k for k in rows["risk_markets"] if k.startswith(BOARD)) == [f"{BOARD}0", f"{BOARD}1"]
    key = engine.board.keys[4_500]
    engine.apply(change(FILLED + 2_000, "deposit", "10", key.split(":")[0]))
    store.save(engine, buffer)
    rows = changed()
    assert list(rows["accounts"]) == [key] and [k for k in rows["risk_markets"] if k.startswith(BOARD)] == [
        f"{BOARD}1"]  # its own row and its slot's slice
    again = new_engine()
    EngineStore.journaled(orjson.loads(orjson.dumps({n: j.rows for n, j in store.tables.items()}))).load(
        again, ReorderBuffer(0))
    move = moves(2)[1]
    assert dumped([again.apply(move)]) == dumped([engine.apply(move)])  # the one rebuilt goes on alike


def test_a_row_is_written_again_when_its_wait_or_its_gate_moves_and_its_account_stays() -> None:
    # a move restates these holders quiet: none of their accounts changes, but it ends their waits
    engine, buffer, store = built_engine(2_000), ReorderBuffer(0), EngineStore.journaled()
    waiting, gated = engine.board.keys[:3], engine.board.keys[3:5]
    engine.liquidator.awaiting_oracle.update(waiting[:2])
    engine.liquidator.unfilled.update(waiting[1:])
    store.save(engine, buffer)
    store.tables["accounts"].take_changes()
    for key in gated:
        engine.gates[key] = AlertGate(past={"health_below_20"})
    kept = dict(engine.accounts)
    engine.apply(moves(1)[0])
    store.save(engine, buffer)
    rows = store.tables["accounts"].take_changes()
    assert all(engine.accounts[k] is kept[k] for k in waiting)
    assert {k: (r["awaiting_oracle"], r["unfilled"]) for k, r in rows.items() if k in waiting} == \
        dict.fromkeys(waiting, (False, False))
    alerts = engine.gates[gated[0]].to_row()
    assert {k: r["alerts"] for k, r in rows.items() if k in gated} == dict.fromkeys(gated, alerts)
    assert orjson.dumps(rows) == orjson.dumps({key: engine.account_row(key) for key in rows})
    written = {key: (engine.accounts[key], engine.account_row(key)) for key in gated}
    engine.apply(moves(2)[1])  # their accounts and gates as they were: the rows written are taken as they are, not
    assert all(engine.account_row(k, written[k]) is written[k][1] for k in gated)  # made again (most accounts that
    # ever signalled keep a gate for good, with the stamps of the signals it let through)


def test_the_rows_a_funding_close_writes_are_each_accounts_own() -> None:
    # made from the rows written before it: the positions' texts kept, the collateral and the index settled new
    engine, buffer, store = built_engine(2_000), ReorderBuffer(0), EngineStore.journaled()
    store.save(engine, buffer)
    store.tables["accounts"].take_changes()
    out = engine.apply(closes(1, PRICES[MARKET])[0])
    store.save(engine, buffer)
    rows = store.tables["accounts"].take_changes()
    assert len(out.funding_payments) and len(rows) == 2_000
    assert orjson.dumps(rows) == orjson.dumps({key: engine.account_row(key) for key in rows})


def test_a_loaded_engine_holds_every_holder_in_its_lane_and_lays_none_out_at_its_first_close(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # laid on load, off the ticks' path: else the first tick or close after a start or a handover lays them all
    engine, buffer, store = built_engine(2_000), ReorderBuffer(0), EngineStore.journaled()
    store.save(engine, buffer)
    loaded = new_engine()
    EngineStore.journaled(orjson.loads(orjson.dumps({n: t.rows for n, t in store.tables.items()}))).load(
        loaded, ReorderBuffer(0))
    kept = loaded.lane.holdings.accounts
    assert all(kept[loaded.board.index[key]] is account for key, account in loaded.accounts.items())
    close, laid, lay = closes(1, PRICES[MARKET])[0], [], Holdings._laid
    again = engine.apply(close)
    monkeypatch.setattr(Holdings, "_laid", lambda self, slot, account: (laid.append(slot), lay(self, slot, account)))
    out = loaded.apply(close)
    assert laid == [] and len(out.funding_payments) and dumped([out]) == dumped([again])


def test_account_rows_holding_their_board_slot_as_written_before_the_slices_still_load() -> None:
    worker = Worker()
    for chunk in releases(inputs(300)):
        worker.release(chunk)
    tables, board = worker.stored(), worker.engine.board
    for key, row in tables["accounts"].items():
        slot = row["slot"]
        row["board"] = {"cash": float(board.cash[slot]), "band": int(board.band[slot]),
                        "liquidatable": bool(board.liquidatable[slot]), "shown": board.shown[:, slot].tolist(),
                        "restated": int(board.restated[slot]),
                        "marks": {m: board.markets[m][:, slot].tolist() for m in worker.engine.accounts[key].positions}}
    for key in [k for k in tables["markets"] if k.startswith(BOARD)]:
        del tables["markets"][key]
    assert state(Worker(tables)) == state(worker)
