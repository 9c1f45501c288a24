"""Socket.IO: clients subscribe to channels and receive that channel's events only."""

from typing import Any

import socketio
from pydantic import BaseModel, ValidationError

from api.live import LiveState
from quantdesk.settings import Settings

CHANNELS = ("ticker",)


class Subscription(BaseModel):
    """What a client asks for: a channel and the market it is about."""

    channel: str
    market: str


def ticker(state: dict[str, Any]) -> dict[str, Any]:
    """Return the ticker payload of a market state."""
    keys = ("market", "ts", "oracle_price", "conf", "mark_price", "oracle_twap_5m", "status", "reason")
    return {k: state.get(k) for k in keys}


def room(channel: str, market: str) -> str:
    """Return the room name of a channel for a market."""
    return f"{channel}:{market}"


class Gateway:
    """The Socket.IO server and how derived events reach its rooms."""

    def __init__(self, settings: Settings, live: LiveState) -> None:
        self.settings, self.live = settings, live
        self.sio = socketio.AsyncServer(async_mode="asgi", cors_allowed_origins="*")
        self.sio.on("subscribe", self.subscribe)
        self.sio.on("unsubscribe", self.unsubscribe)

    def refusal(self, data: Any) -> tuple[str, Subscription | None]:
        """Return why a subscription is refused (empty when it is fine) and the parsed request."""
        try:
            sub = Subscription.model_validate(data)
        except ValidationError as exc:
            return f"subscribe needs {{channel, market}}: {exc.errors()[0]['msg']}", None
        if sub.channel not in CHANNELS:
            return f"unknown channel {sub.channel!r}; channels: {', '.join(CHANNELS)}", sub
        if sub.market not in self.settings.market_names:
            return f"unknown market {sub.market!r}; markets: {', '.join(self.settings.market_names)}", sub
        return "", sub

    async def subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Join a channel's room and send the current snapshot, or send an `error` event."""
        why, sub = self.refusal(data)
        if why or sub is None:
            await self.sio.emit("error", {"message": why, "request": data}, to=sid)
            return {"ok": False, "error": why}
        await self.sio.enter_room(sid, room(sub.channel, sub.market))
        held = self.live.markets.get(sub.market)
        if held:
            await self.sio.emit("ticker", ticker(held), to=sid)
        return {"ok": True}

    async def unsubscribe(self, sid: str, data: Any) -> dict[str, Any]:
        """Leave a channel's room."""
        why, sub = self.refusal(data)
        if sub is not None and not why:
            await self.sio.leave_room(sid, room(sub.channel, sub.market))
        return {"ok": not why}

    async def on_event(self, topic: str, event: dict[str, Any]) -> None:
        """Push a derived event to the room that wants it."""
        if topic == "markets.state":
            await self.sio.emit("ticker", ticker(event), room=room("ticker", event["market"]))
