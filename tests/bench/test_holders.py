"""The holders bench's engine, written directly, is the engine a replay of its seed builds; its report's shape."""

import orjson

from bench.holders import FILLED, MARKET, PRICES, T0, built_engine, holder_costs, oracle_tick, replayed_engine
from quantdesk.messages import dump
from streams.domain.funding import HOUR_MS
from streams.risk.board import SLICE
from streams.risk.engine import RiskEngine
from streams.risk.outputs import OUTPUT_LISTS, Outputs

HOLDERS = 130  # more than the bench's 60 kinds of holder: every kind, some twice


def published(out: Outputs) -> dict[str, list[bytes]]:
    """Return what an apply caused as the bytes of each message, per output list."""
    return {name: [orjson.dumps(dump(m)) for m in getattr(out, name)] for name in OUTPUT_LISTS}


def stored(engine: RiskEngine) -> tuple:
    """Return everything a checkpoint stores of an engine: its row, each market's, each account's and the board's."""
    return (engine.to_row(), {n: m.to_row() for n, m in engine.markets.items()},
            {key: engine.account_row(key) for key in engine.accounts},
            [engine.board.slice_row(n) for n in range(len(engine.board.keys) // SLICE + 1)])


def test_the_engine_written_directly_is_the_replayed_one() -> None:
    replayed, built = replayed_engine(HOLDERS), built_engine(HOLDERS)
    assert stored(built) == stored(replayed)
    assert list(built.board.keys) == list(replayed.board.keys) and built.gates == replayed.gates == {}
    for name, market in built.markets.items():
        other = replayed.markets[name]
        assert market.book.row == other.book.row
        for column in ("account", "size", "entry", "mmr", "imr"):
            assert (getattr(market.book, column)[:HOLDERS] == getattr(other.book, column)[:HOLDERS]).all()


def test_the_engine_written_directly_publishes_what_the_replayed_one_does() -> None:
    # a 1 % move (most holders restated exactly), then a funding close (every holder settled and published)
    replayed, built = replayed_engine(HOLDERS), built_engine(HOLDERS)
    move = oracle_tick(MARKET, FILLED + 1000, PRICES[MARKET] * 101 / 100)
    close = oracle_tick(MARKET, T0 + HOUR_MS + 1000, PRICES[MARKET])
    for tick in (move, close):
        mine, theirs = published(built.apply(tick)), published(replayed.apply(tick))
        assert mine == theirs
    assert len(theirs["states"]) == len(theirs["funding_payments"]) == HOLDERS
    assert stored(built) == stored(replayed)


def test_tick_and_close_costs_per_size_beside_bare_numpy() -> None:
    report = holder_costs((60, 120), repeats=2)
    assert [s["holders"] for s in report["per_size"]] == [60, 120] and report["markets"] == 3
    for size in report["per_size"]:
        assert 0 < size["tick_published"] < size["holders"]  # a 1 % move flags the leveraged, not everyone
        assert size["close_published"] == size["close_payments"] == size["holders"]
        for figure in ("tick_ms", "tick_cpu_ms", "close_ms", "close_cpu_ms", "baseline_ms", "tick_checkpoint_cpu_ms",
                       "tick_checkpoint_mb", "tick_publish_cpu_ms", "close_publish_cpu_ms", "close_checkpoint_cpu_ms"):
            assert size[figure] > 0
        assert size["close_checkpoint_mb"] > size["tick_checkpoint_mb"]  # every holder's row, not the flagged
        assert 0 < size["tick_during_close_published"] < size["holders"]  # the move after the close, its own flags
        assert size["tick_during_close_ms"] > 0
        assert size["warned"] > 0 and 0 < size["tick_after_crash_published"] < size["holders"]  # the fall warned some
        assert size["tick_after_crash_ms"] > 0 and size["tick_after_crash_cpu_ms"] > 0
        assert size["tick_ratio"] == size["tick_ms"] / size["baseline_ms"]
