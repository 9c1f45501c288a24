"""Pushes: the news of each feed topic goes to the rooms that want it, each delta numbered per room.

Every replica reads every event from Kafka and pushes to its own clients; a push reaches the room's
local members through `api.fanout`. A room nobody here listens to gets nothing and keeps its number.
"""

from typing import Any

import socketio

from api.bars import RESOLUTIONS
from api.books import DEFAULT_DEPTH
from api.channels import room
from api.fanout import fan_out
from api.live import TOPICS, LiveState
from quantdesk.metrics import Metrics


class Pushes:
    """The sequence number of each room on this replica, the account rooms of each wallet, and the pushes."""

    def __init__(self, sio: socketio.AsyncServer, live: LiveState, metrics: Metrics) -> None:
        self.sio, self.live, self.metrics = sio, live, metrics
        self.seq: dict[str, int] = {}
        self.wallet_rooms: dict[str, set[str]] = {}

    async def on_event(self, topic: str, event: dict[str, Any]) -> None:
        """Push the news of a feed topic to the rooms that want it."""
        if (feed := TOPICS.get(topic)) is not None:
            await feed.push(self, event)

    def watch(self, wallet: str, name: str) -> None:
        """Remember an account room of a wallet."""
        self.wallet_rooms.setdefault(wallet, set()).add(name)

    def watched(self, wallet: str) -> bool:
        """Tell whether a wallet has an account room."""
        return wallet in self.wallet_rooms

    def listened(self, name: str) -> bool:
        """Tell whether a room has members on this replica."""
        return bool(self.sio.manager.rooms.get("/", {}).get(name))

    async def push(self, channel: str, name: str, header: dict[str, Any], data: Any) -> None:
        """Emit one delta to this replica's members of a room, with the room's next sequence number."""
        if not self.listened(name):  # who subscribes next starts from a snapshot carrying the kept number
            return
        seq = self.seq[name] = self.seq.get(name, 0) + 1
        await fan_out(self.sio, channel, {**header, "seq": seq, "snapshot": False, "data": data}, name,
                      self.metrics)

    async def push_market(self, channel: str, market: str, data: Any) -> None:
        """Emit one delta to a market channel's room."""
        await self.push(channel, room(channel, market), {"channel": channel, "market": market}, data)

    async def push_bars(self, market: str, ts: int) -> None:
        """Push the current candles of a market that an event at `ts` just changed."""
        for resolution in RESOLUTIONS:
            name, bar = room("candles", market, resolution), self.live.bars.get((market, resolution))
            view = bar.view() if bar and bar.time <= ts and self.listened(name) else None
            if view is not None:
                header = {"channel": "candles", "market": market, "resolution": resolution}
                await self.push("candles", name, header, view)

    async def push_book(self, market: str, venue: str) -> None:
        """Push a market's book that `venue`'s update changed: the consolidated and the venue's orderbook rooms get
        their new view whole (`api.books`), the bbo room the BBO when it moved."""
        for shown in (None, venue):
            name = room("orderbook", market, shown or "")
            if self.listened(name):
                view = self.live.books.orderbook(market, shown, DEFAULT_DEPTH).model_dump(mode="json")
                await self.push("orderbook", name, {"channel": "orderbook", "market": market, "venue": shown}, view)
        if (bbo := self.live.books.bbo_moved(market)) is not None:
            await self.push_market("bbo", market, bbo.model_dump(mode="json"))

    async def push_account(self, wallet: str, kind: str, data: Any) -> None:
        """Push an account delta to the live account rooms of a wallet's sessions."""
        rooms = self.wallet_rooms.get(wallet, set())
        for name in list(rooms):
            if not self.listened(name):
                rooms.discard(name)
                self.seq.pop(name, None)
                continue
            await self.push("account", name, {"channel": "account", "wallet": wallet, "kind": kind}, data)
        if not rooms:
            self.wallet_rooms.pop(wallet, None)
