"""A crowd of Socket.IO clients in one process, subscribed to one market's ticker, noting arrivals.

Run as `python -m bench.clients URL MARKET COUNT`. It prints `{"ready": COUNT}` once
every client is connected and subscribed, then answers one JSON line on stdin at a time:
`{"await": TS, "timeout": S}` prints `{"seen": N}` once every client (or N of them by the timeout)
got the ticker of event time TS; `{"report": true}` prints `{"arrivals": [[TS, RECEIVED_NS], ...]}`,
disconnects everyone and exits.

The crowd runs on uvloop and decodes with orjson: it is the load, not what is measured, and on this
2-core machine every CPU-millisecond it spends per ticker delays the gateway's own pushes.
"""

import asyncio
import sys
import time
from collections import Counter

import orjson
import socketio
import uvloop

CONNECTING_AT_ONCE = 50


class OrjsonCodec:
    """The JSON codec the clients decode packets with: orjson, as fast as a browser's native JSON."""

    @staticmethod
    def dumps(obj: object, **_: object) -> str:
        """Encode like `json.dumps` (the separators asked for are orjson's own)."""
        return orjson.dumps(obj).decode()

    @staticmethod
    def loads(text: str | bytes, **_: object) -> object:
        """Decode like `json.loads`."""
        return orjson.loads(text)


class Crowd:
    """The clients of this process and every ticker they received, with the wall time of receipt."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.clients: list[socketio.AsyncClient] = []
        self.arrivals: list[tuple[int, int]] = []
        self.seen: Counter[int] = Counter()
        self.awaited: tuple[int, asyncio.Event] | None = None

    def on_ticker(self, message: dict) -> None:
        """Note a ticker's event time and when it arrived (snapshots carry none worth noting)."""
        received = time.time_ns()
        if message.get("snapshot") or not message.get("data"):
            return
        ts = message["data"]["ts"]
        self.arrivals.append((ts, received))
        self.seen[ts] += 1
        if self.awaited and self.awaited[0] == ts and self.seen[ts] >= self.count:
            self.awaited[1].set()

    async def join(self, url: str, market: str, gate: asyncio.Semaphore) -> None:
        """Connect one client and subscribe it to the market's ticker."""
        client = socketio.AsyncClient(reconnection=False, json=OrjsonCodec)
        client.on("ticker", self.on_ticker)
        async with gate:
            await client.connect(url, transports=["websocket"], wait_timeout=60)
            answer = await client.call("subscribe", {"channel": "ticker", "market": market}, timeout=60)
        if not answer.get("ok"):
            raise RuntimeError(f"subscribe refused: {answer}")
        self.clients.append(client)

    async def wait_for(self, ts: int, timeout: float) -> int:
        """Wait until every client got ticker `ts` (or the timeout); return how many did."""
        self.awaited = (ts, asyncio.Event())
        if self.seen[ts] >= self.count:
            self.awaited[1].set()
        try:
            await asyncio.wait_for(self.awaited[1].wait(), timeout)
        except TimeoutError:
            pass
        return self.seen[ts]

    async def leave(self) -> None:
        """Disconnect every client."""
        await asyncio.gather(*(c.disconnect() for c in self.clients), return_exceptions=True)


def say(message: dict) -> None:
    """Write one JSON line to the parent."""
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


async def serve_parent(crowd: Crowd) -> None:
    """Answer the parent's requests until it asks for the report."""
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        request = orjson.loads(line)
        if "await" in request:
            say({"seen": await crowd.wait_for(request["await"], request["timeout"])})
        elif request.get("report"):
            say({"arrivals": crowd.arrivals})
            return


async def main(url: str, market: str, count: int) -> None:
    """Connect the crowd, serve the parent, then disconnect."""
    crowd = Crowd(count)
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    try:
        await asyncio.gather(*(crowd.join(url, market, gate) for _ in range(count)))
        say({"ready": len(crowd.clients)})
        await serve_parent(crowd)
    finally:
        await crowd.leave()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
