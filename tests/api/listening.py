"""A Socket.IO client that records every event it receives, per event name."""

from collections import defaultdict
from typing import Any

import socketio

from api.auth import COOKIE
from api.channels import CHANNELS


class Listener:
    """A connected client (optionally with a session cookie) and what it received."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient()
        self.events: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for name in (*CHANNELS, "error"):
            self.sio.on(name, self.recorder(name))

    def recorder(self, name: str) -> Any:
        """Return a handler that records events called `name`."""
        async def record(data: dict[str, Any]) -> None:
            self.events[name].append(data)
        return record

    async def connect(self, url: str, token: str | None = None) -> "Listener":
        """Connect over WebSocket, sending the session cookie with the handshake."""
        headers = {"Cookie": f"{COOKIE}={token}"} if token else {}
        # the namespace connects after a read of the session store: the default 1 s is too short on a loaded machine
        await self.sio.connect(url, headers=headers, transports=["websocket"], wait_timeout=30)
        return self

    async def subscribe(self, **request: Any) -> dict[str, Any]:
        """Subscribe and return the acknowledgement."""
        return await self.sio.call("subscribe", request)

    def deltas(self, channel: str) -> list[dict[str, Any]]:
        """Return the deltas (not snapshots) received on a channel."""
        return [e for e in self.events[channel] if not e["snapshot"]]

    async def close(self) -> None:
        """Disconnect."""
        await self.sio.disconnect()
