"""Many real Socket.IO clients in a child process, each subscribing to one market's ticker, noting what it got.

Run as `python tests/api/subscribers.py URL MARKET COUNT`. Like `bench.clients`, the crowd runs on uvloop and
decodes with orjson, so on a 2-core machine it leaves the gateway its share. It prints `{"ready": COUNT}` once
every client has subscribed, then answers one JSON line on stdin at a time: `{"await": SEQ, "timeout": S}` prints
`{"seen": N}` once every client (or N of them by the timeout) holds the ticker numbered SEQ; `{"report": true}`
prints `{"events": [[[SNAPSHOT, SEQ], ...], ...]}`, every ticker event of each client in the order it arrived, then
disconnects everyone and exits.
"""

import asyncio
import sys

import orjson
import socketio
import uvloop

from bench.clients import CONNECTING_AT_ONCE, OrjsonCodec


class Crowd:
    """The clients and, per client, the (snapshot, seq) of every ticker event in the order it arrived."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.clients: list[socketio.AsyncClient] = []
        self.events: list[list[tuple[bool, int]]] = []
        self.highest: list[int] = []  # per client, the highest seq it holds (a late snapshot may come last)
        self.awaited: tuple[int, asyncio.Event] | None = None

    def holding(self, seq: int) -> int:
        """Return how many clients hold the ticker numbered `seq` or a later one."""
        return sum(1 for highest in self.highest if highest >= seq)

    def recorder(self, index: int) -> object:
        """Return the ticker handler of the client at `index`."""
        seen = self.events[index]

        def record(message: dict) -> None:
            seen.append((message["snapshot"], message["seq"]))
            self.highest[index] = max(self.highest[index], message["seq"])
            if self.awaited and message["seq"] >= self.awaited[0] and self.holding(self.awaited[0]) >= self.count:
                self.awaited[1].set()
        return record

    async def join(self, url: str, market: str, gate: asyncio.Semaphore) -> None:
        """Connect one client and subscribe it to the market's ticker."""
        client = socketio.AsyncClient(reconnection=False, json=OrjsonCodec)
        self.events.append([])
        self.highest.append(-1)
        client.on("ticker", self.recorder(len(self.events) - 1))
        async with gate:
            await client.connect(url, transports=["websocket"], wait_timeout=60)
            answer = await client.call("subscribe", {"channel": "ticker", "market": market}, timeout=60)
        if not answer.get("ok"):
            raise RuntimeError(f"subscribe refused: {answer}")
        self.clients.append(client)

    async def wait_for(self, seq: int, timeout: float) -> int:
        """Wait until every client holds ticker `seq` (or the timeout); return how many do."""
        self.awaited = (seq, asyncio.Event())
        if self.holding(seq) >= self.count:
            self.awaited[1].set()
        try:
            await asyncio.wait_for(self.awaited[1].wait(), timeout)
        except TimeoutError:
            pass
        return self.holding(seq)

    async def leave(self) -> None:
        """Disconnect every client."""
        await asyncio.gather(*(c.disconnect() for c in self.clients), return_exceptions=True)


def say(message: dict) -> None:
    """Write one JSON line to the parent."""
    sys.stdout.write(orjson.dumps(message).decode() + "\n")
    sys.stdout.flush()


async def main(url: str, market: str, count: int) -> None:
    """Connect the crowd, answer the parent until it asks for the report, then disconnect."""
    crowd = Crowd(count)
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    loop = asyncio.get_running_loop()
    try:
        await asyncio.gather(*(crowd.join(url, market, gate) for _ in range(count)))
        say({"ready": len(crowd.clients)})
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            request = orjson.loads(line)
            if "await" in request:
                say({"seen": await crowd.wait_for(request["await"], request["timeout"])})
            elif request.get("report"):
                say({"events": crowd.events})
                return
    finally:
        await crowd.leave()


if __name__ == "__main__":
    uvloop.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
