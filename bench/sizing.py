"""How big each measurement is: full, quick (under two minutes) and smoke (for the shape test)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizing:
    """The sizes of one bench run (latency ticks come at 2.5/s, the 400 ms cadence of a real oracle feed)."""

    name: str
    single_messages: int
    pipeline_events: int
    publish_window: int
    simulator_accounts: int
    clients: tuple[int, ...]
    client_processes: int
    latency_ticks: int
    latency_rate_hz: float
    positions: tuple[int, ...]
    remargin_repeats: int
    candle_ticks: int
    candle_repeats: int
    sink_rows: int
    api_seconds: float
    api_concurrency: int
    book_orders: int
    book_updates: int
    holders: tuple[int, ...]  # accounts in three markets, for a tick's and a funding close's engine time
    holder_repeats: int
    kernel_holders: int  # accounts in three markets for the exact integer margin pass
    snapshot_holders: int  # accounts in three markets whose snapshots a 1 % move publishes, written from columns
    shard_events: int  # the pipeline's events with 1, 2 and 3 risk workers sharing the tasks


FULL = Sizing(
    name="full", single_messages=100_000, pipeline_events=100_000, publish_window=2000, simulator_accounts=1000,
    clients=(100, 1000), client_processes=8, latency_ticks=100, latency_rate_hz=2.5,
    positions=(10_000, 100_000, 1_000_000), remargin_repeats=30, candle_ticks=10_000_000, candle_repeats=10,
    sink_rows=200_000, api_seconds=10.0, api_concurrency=64,
    book_orders=100_000, book_updates=100_000, holders=(1000, 10_000, 100_000, 1_000_000), holder_repeats=5,
    kernel_holders=100_000, snapshot_holders=100_000, shard_events=50_000,
)
QUICK = Sizing(
    name="quick", single_messages=20_000, pipeline_events=15_000, publish_window=2000, simulator_accounts=1000,
    clients=(100, 1000), client_processes=4, latency_ticks=12, latency_rate_hz=2.5,
    positions=(10_000, 100_000, 1_000_000), remargin_repeats=10, candle_ticks=10_000_000, candle_repeats=5,
    sink_rows=20_000, api_seconds=2.0, api_concurrency=32,
    book_orders=100_000, book_updates=50_000, holders=(1000, 10_000), holder_repeats=3,
    kernel_holders=100_000, snapshot_holders=10_000, shard_events=10_000,
)
SMOKE = Sizing(
    name="smoke", single_messages=500, pipeline_events=1000, publish_window=500, simulator_accounts=20,
    clients=(4, 8), client_processes=2, latency_ticks=5, latency_rate_hz=50.0,
    positions=(1000, 4000, 16_000), remargin_repeats=3, candle_ticks=30_000, candle_repeats=2,
    sink_rows=1000, api_seconds=0.5, api_concurrency=4,
    book_orders=4000, book_updates=2000, holders=(100, 300), holder_repeats=2,
    kernel_holders=1000, snapshot_holders=300, shard_events=500,
)
SIZINGS = {s.name: s for s in (FULL, QUICK, SMOKE)}
