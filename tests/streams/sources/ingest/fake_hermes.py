"""A Hermes server on loopback replaying the recorded Pyth payloads.

`/ws` is Hermes' websocket: a `subscribe` message is answered with a `response` and then a
`price_update` (the v1 fixture, verbose with its VAA) for each subscribed feed it has.
`/v2/updates/price/stream` is the server-sent event stream of v2 updates (the v2 fixture).
With `drop` set, every connection is closed right after its update.
"""

import asyncio
import json
from typing import Any

from aiohttp import WSMsgType, web

from quantdesk.broker import free_port
from tests.conftest import LOCAL_FIXTURES
from tests.local_server import listen

FIXTURE = LOCAL_FIXTURES / "pyth" / "hermes_price_updates.json"


def recorded() -> dict[str, Any]:
    """Return the recorded Hermes payloads (`data_v1`, `data_v2`)."""
    return json.loads(FIXTURE.read_text())


class FakeHermes:
    """Replays the fixtures on Hermes' streaming endpoints."""

    def __init__(self, payloads: dict[str, Any] | None = None, drop: bool = False,
                 first: tuple[Any, ...] = ()) -> None:
        """Serve `payloads` (the recorded ones by default), sending `first` before them: frames on the websocket, and
        on the event stream its bytes as they are."""
        self.payloads = payloads or recorded()
        self.drop = drop
        self.first = first
        self.connections = 0
        self.subscriptions: list[list[str]] = []
        self.port = free_port()
        self.runner: web.AppRunner | None = None
        self.closing = asyncio.Event()

    @property
    def ws_url(self) -> str:
        """Return the websocket URL."""
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def url(self) -> str:
        """Return the HTTP base URL (server-sent events)."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> "FakeHermes":
        """Listen on the loopback port."""
        app = web.Application()
        app.router.add_get("/ws", self.websocket)
        app.router.add_get("/v2/updates/price/stream", self.stream)
        self.runner = await listen(app, self.port)
        return self

    async def stop(self) -> None:
        """Stop listening and end open streams."""
        self.closing.set()
        if self.runner:
            await self.runner.cleanup()

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Answer subscriptions with the v1 update of each subscribed feed."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            body = message.json()
            ids = [i.removeprefix("0x") for i in body.get("ids", [])]
            self.subscriptions.append(ids)
            await ws.send_json({"type": "response", "status": "success"})
            for frame in self.first:  # bytes go as they are: a frame that is not JSON
                await (ws.send_str(frame.decode()) if isinstance(frame, bytes) else ws.send_json(frame))
            feed = self.payloads["data_v1"]
            if feed["id"] in ids:
                await ws.send_json({"type": "price_update", "price_feed": feed})
            if self.drop:
                await ws.close()
        return ws

    async def stream(self, request: web.Request) -> web.StreamResponse:
        """Send the v2 update as a server-sent event, then keep the stream open."""
        self.connections += 1
        self.subscriptions.append([i.removeprefix("0x") for i in request.query.getall("ids[]", [])])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for chunk in self.first:
            if isinstance(chunk, bytes):
                await response.write(chunk)
        await response.write(f"data:{json.dumps(self.payloads['data_v2'])}\n\n".encode())
        if not self.drop:
            await self.closing.wait()
        return response
