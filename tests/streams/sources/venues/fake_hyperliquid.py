"""A Hyperliquid websocket on loopback speaking its documented wire format.

On connecting it greets with the plain text "Websocket connection established."; each `{"method": "subscribe",
"subscription": {...}}` is answered with `{"channel": "subscriptionResponse", "data": <that message>}`, and once a
connection has made `subscriptions` of them its scripted messages follow (`sessions[n]` for the n-th connection:
dicts sent as JSON, strings as they are); `{"method": "ping"}` is answered with `{"channel": "pong"}` unless
`mute`. With `drop` set, a connection is closed right after its script.
"""

import json
from typing import Any

from aiohttp import WSMsgType, web

from quantdesk.broker import free_port
from tests.local_server import listen

GREETING = "Websocket connection established."


def all_mids(mids: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Return an `allMids` data message."""
    return {"channel": "allMids", "data": {"mids": mids, **extra}}


def l2_book(coin: str, time_ms: int, bids: list[tuple[str, str, int]], asks: list[tuple[str, str, int]]
            ) -> dict[str, Any]:
    """Return an `l2Book` data message (`WsBook`): each side best first, a level (px, sz, n) as `WsLevel`."""
    def side(levels: list[tuple[str, str, int]]) -> list[dict[str, Any]]:
        return [{"px": px, "sz": sz, "n": n} for px, sz, n in levels]
    return {"channel": "l2Book", "data": {"coin": coin, "time": time_ms, "levels": [side(bids), side(asks)]}}


class FakeHyperliquid:
    """Serves `/ws` as Hyperliquid does."""

    def __init__(self, sessions: list[list[dict[str, Any] | str]], drop: bool = False, mute: bool = False,
                 subscriptions: int = 1) -> None:
        self.sessions, self.drop, self.mute, self.subscriptions = sessions, drop, mute, subscriptions
        self.connections = 0
        self.received: list[Any] = []
        self.pings = 0
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        """Return the websocket URL."""
        return f"ws://127.0.0.1:{self.port}/ws"

    async def start(self) -> "FakeHyperliquid":
        """Listen on the loopback port."""
        app = web.Application()
        app.router.add_get("/ws", self.websocket)
        self.runner = await listen(app, self.port)
        return self

    async def stop(self) -> None:
        """Stop listening."""
        if self.runner:
            await self.runner.cleanup()

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Greet, acknowledge subscriptions and send the connection's script after the last; answer pings."""
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        number, subscribed = self.connections, 0
        self.connections += 1
        await ws.send_str(GREETING)
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            body = json.loads(message.data)
            self.received.append(body)
            if body == {"method": "ping"}:
                self.pings += 1
                if not self.mute:
                    await ws.send_json({"channel": "pong"})
            elif body.get("method") == "subscribe":
                await ws.send_json({"channel": "subscriptionResponse", "data": body})
                subscribed += 1
                if subscribed != self.subscriptions:
                    continue
                for scripted in self.sessions[number] if number < len(self.sessions) else []:
                    await ws.send_str(scripted if isinstance(scripted, str) else json.dumps(scripted))
                if self.drop:
                    await ws.close()
        return ws
