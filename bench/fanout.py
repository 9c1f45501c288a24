"""Tick-to-client latency through the whole platform, beside the gateway's own Socket.IO fan-out.

Clients live in child processes (`bench.clients`), all subscribed to one market's ticker.
A tick's latency runs from the wall time just before it is published to Kafka until a client holds
its ticker; the baseline emits the same ticker payload straight from the gateway's Socket.IO server
to the same clients (no Kafka, no Faust), so the difference is what the pipeline adds.

Event time goes on from where the simulator (and the pipeline phase) stopped, 400 ms a tick, as a
live feed's does: a jump to the wall clock would close a day of funding hours and resettle every
account at once, a one-off no live feed causes. Each path first sends one warm-up tick, not counted,
and waits until every client holds it.
"""

import asyncio
import sys
import time
from asyncio.subprocess import PIPE, Process
from typing import Any, Awaitable, Callable

import numpy as np
import orjson

from api.sockets import Gateway
from api.embedded import Runtime
from quantdesk.kafka.publisher import Publisher
from streams.sources.simulator import Simulator

MARKET = "BTC-PERP"
AWAIT_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 120.0


class CrowdProcess:
    """One child process holding many Socket.IO clients, spoken to in JSON lines."""

    def __init__(self, process: Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, count: int) -> "CrowdProcess":
        """Start a child with `count` clients subscribed to the market's ticker."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.clients", url, MARKET, str(count),
            stdin=PIPE, stdout=PIPE, limit=1 << 28)
        return cls(process)

    async def read(self, timeout: float) -> dict[str, Any]:
        """Return the child's next JSON line."""
        assert self.process.stdout is not None
        line = await asyncio.wait_for(self.process.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"a client process exited with {await self.process.wait()}")
        return orjson.loads(line)

    async def ask(self, request: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send one request and return the answer."""
        assert self.process.stdin is not None
        self.process.stdin.write(orjson.dumps(request) + b"\n")
        await self.process.stdin.drain()
        return await self.read(timeout)

    async def stop(self) -> None:
        """Close the child's input (it then disconnects and exits); kill it if it lingers."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 30)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


class LoopLag:
    """Sample how late the event loop wakes a task that sleeps `period_s`: what every push waits behind."""

    def __init__(self, period_s: float = 0.01) -> None:
        self.period_s = period_s
        self.lags_ms: list[float] = []
        self.task: asyncio.Task[None] | None = None

    async def sample(self) -> None:
        """Sleep and note the overshoot, until cancelled."""
        while True:
            started = time.perf_counter()
            await asyncio.sleep(self.period_s)
            self.lags_ms.append((time.perf_counter() - started - self.period_s) * 1e3)

    async def __aenter__(self) -> "LoopLag":
        self.task = asyncio.create_task(self.sample(), name="loop-lag")
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def summary(self) -> dict[str, float]:
        """Return p50, p99 and max of the lags in ms."""
        lags = np.array(self.lags_ms or [0.0])
        return {"p50": float(np.percentile(lags, 50)), "p99": float(np.percentile(lags, 99)), "max": float(lags.max())}


def shares(clients: int, processes: int) -> list[int]:
    """Split `clients` over at most `processes` children as evenly as possible."""
    n = min(clients, processes)
    return [clients // n + (1 if i < clients % n else 0) for i in range(n)]


def gateway_of(runtime: Runtime) -> Gateway:
    """Return the Socket.IO gateway of the running platform."""
    return runtime.server.config.app.other_asgi_app.state.gateway


class Clock:
    """Move the simulator's event time on by one oracle cadence a tick, so every tick has a time of its own."""

    def __init__(self, sim: Simulator, step_ms: int = 400) -> None:
        self.sim, self.step_ms = sim, step_ms

    def next(self) -> int:
        """Return the next event time."""
        self.sim.now += self.step_ms
        return self.sim.now


async def paced(count: int, rate_hz: float, clock: Clock, send: Callable[[int], Awaitable[None]]) -> dict[int, int]:
    """Call `send(ts)` `count` times at `rate_hz`; return each ts with the wall ns just before its send."""
    sent: dict[int, int] = {}
    for _ in range(count):
        ts = clock.next()
        sent[ts] = time.time_ns()
        await send(ts)
        await asyncio.sleep(1 / rate_hz)  # pacing the load, not synchronising
    return sent


async def through_platform(runtime: Runtime, sim: Simulator, count: int, rate_hz: float, clock: Clock) -> dict[int, int]:
    """Publish `count` ticks of the market to Kafka; return their send times."""
    async with Publisher(runtime.settings, runtime.bootstrap) as publisher:
        async def send(ts: int) -> None:
            tick = {**sim.tick(MARKET), "id": f"bench:latency:{ts}", "ts": ts, "publish_time": ts}
            await publisher.send([("oracle.ticks", MARKET, tick)])
        return await paced(count, rate_hz, clock, send)


async def straight_from_gateway(runtime: Runtime, count: int, rate_hz: float, clock: Clock) -> dict[int, int]:
    """Hand `count` market states straight to the gateway's Socket.IO push; return their send times."""
    gateway = gateway_of(runtime)
    held = gateway.live.markets[MARKET]

    async def send(ts: int) -> None:
        await gateway.on_event("markets.state", {**held, "id": f"bench:direct:{ts}", "ts": ts})
    return await paced(count, rate_hz, clock, send)


async def all_seen(crowds: list[CrowdProcess], sent: dict[int, int]) -> int:
    """Wait until every child's clients got the last ticker sent; return how many clients did."""
    answers = await asyncio.gather(*(c.ask({"await": max(sent), "timeout": AWAIT_TIMEOUT_S}, AWAIT_TIMEOUT_S + 10)
                                     for c in crowds))
    return sum(a["seen"] for a in answers)


def latency_summary(arrivals: list[list[int]], sent: dict[int, int], clients: int) -> dict[str, Any]:
    """Return p50/p99/max latency (ms) of the arrivals of the tickers in `sent`, and the share delivered."""
    ms = np.array([(received - sent[ts]) / 1e6 for ts, received in arrivals if ts in sent])
    if not len(ms):
        return {"p50": None, "p99": None, "max": None, "delivered": 0.0}
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)), "max": float(ms.max()),
            "delivered": len(ms) / (clients * len(sent))}


async def measured(crowds: list[CrowdProcess], send_ticks: Callable[[int], Awaitable[dict[int, int]]], ticks: int,
                   lag: LoopLag) -> dict[int, int]:
    """Send one warm-up tick and wait for it at every client, then `ticks` measured ones; return their send times."""
    await all_seen(crowds, await send_ticks(1))
    async with lag:
        sent = await send_ticks(ticks)
        await all_seen(crowds, sent)
    return sent


async def tick_to_client(runtime: Runtime, sim: Simulator, clients: int, processes: int,
                         ticks: int, rate_hz: float) -> dict[str, Any]:
    """Return tick-to-client latency with `clients` subscribers, beside the direct-emit baseline."""
    crowds = [await CrowdProcess.start(runtime.api_url, n) for n in shares(clients, processes)]
    try:
        ready = sum([(await c.read(READY_TIMEOUT_S))["ready"] for c in crowds])
        clock, lag = Clock(sim), LoopLag()
        platform_sent = await measured(crowds, lambda n: through_platform(runtime, sim, n, rate_hz, clock), ticks, lag)
        direct_sent = await measured(crowds, lambda n: straight_from_gateway(runtime, n, rate_hz, clock), ticks, lag)
        arrivals = [a for c in crowds for a in (await c.ask({"report": True}, 60))["arrivals"]]
    finally:
        await asyncio.gather(*(c.stop() for c in crowds))
    return {"clients": ready, "processes": len(crowds), "ticks": ticks, "rate_hz": rate_hz,
            **latency_summary(arrivals, platform_sent, ready), "loop_lag_ms": lag.summary(),
            "baseline": {"what": "the same market state handed straight to the gateway's Socket.IO push (no Kafka, no Faust)",
                         **latency_summary(arrivals, direct_sent, ready)}}
