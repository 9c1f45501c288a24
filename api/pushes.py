"""Pushes: the news of each feed topic goes to the rooms that want it, each delta numbered per room and kept in
the room's log (`api.resync`) for clients that resubscribe with `since_seq`.

Every replica reads every event from Kafka and pushes to its own clients, numbering its own rooms; a push reaches
the room's local members through `api.fanout`. A room nobody here listens to gets nothing and is not numbered: its
log goes, and whoever subscribes next starts from a snapshot. A subscriber joins its room and has what it sees
first queued in one step, with no await, so no delta of the room can come before it.
"""

from typing import Any, Callable

import socketio
from engineio.packet import Packet

from api.bars import RESOLUTIONS
from api.books import DEFAULT_DEPTH
from api.channels import room
from api.fanout import event_packets, fan_out, queue
from api.live import TOPICS, LiveState
from api.resync import RoomLogs
from quantdesk.metrics import Metrics


class Pushes:
    """The log of each room on this replica, the account rooms of each wallet, the pushes and the joins."""

    def __init__(self, sio: socketio.AsyncServer, live: LiveState, metrics: Metrics, history: int,
                 most_queued: int) -> None:
        """Keep `history` deltas of each room; cut off a client with `most_queued` packets it has not read."""
        self.sio, self.live, self.metrics, self.most_queued = sio, live, metrics, most_queued
        self.logs: RoomLogs[list[Packet]] = RoomLogs(history, self.listened)
        self.wallet_rooms: dict[str, set[str]] = {}
        self.order_rooms: dict[str, set[str]] = {}  # wallet -> its sessions' orders rooms

    async def on_event(self, topic: str, news: Any) -> None:
        """Push the news of a feed topic (an event as `LiveState.apply` returned it) to the rooms that want it."""
        if (feed := TOPICS.get(topic)) is not None:
            await feed.push(self, news)

    def watch(self, wallet: str, name: str) -> None:
        """Remember an account room of a wallet."""
        self.wallet_rooms.setdefault(wallet, set()).add(name)

    def watch_orders(self, wallet: str, name: str) -> None:
        """Remember an orders room of a wallet."""
        self.order_rooms.setdefault(wallet, set()).add(name)

    def watched(self, wallet: str) -> bool:
        """Tell whether a wallet has an account room."""
        return wallet in self.wallet_rooms

    def listened(self, name: str) -> bool:
        """Tell whether a room has members on this replica."""
        return bool(self.sio.manager.rooms.get("/", {}).get(name))

    def join(self, sid: str, name: str, event: str, since: int | None,
             snapshot: Callable[[int], dict[str, Any]]) -> tuple[int, bool]:
        """Put a client in a room and queue what it sees first, in one step (no push of the room can come
        between): the deltas numbered after `since` when the room's log still holds them all, else the event
        `snapshot(seq)` at the room's number. Return the room's number and whether the client caught up by
        deltas."""
        self.sio.manager.basic_enter_room(sid, "/", name)
        log = self.logs.open(name)
        missed = log.since(since) if since is not None else None
        packets = [p for delta in missed for p in delta] if missed is not None else \
            event_packets(self.sio, event, snapshot(log.seq))
        if queue(self.sio, sid, packets):
            self.metrics.inc("gateway_socket_emits_total", 1 if missed is None else len(missed), channel=event)
        return log.seq, missed is not None

    def leave(self, sid: str, name: str) -> None:
        """Take a client out of a room; the room's log goes with its last member."""
        self.sio.manager.basic_leave_room(sid, "/", name)
        if not self.listened(name):
            self.logs.drop(name)

    async def push(self, channel: str, name: str, header: dict[str, Any], data: Any) -> None:
        """Emit one delta to this replica's members of a room, with the room's next sequence number."""
        if not self.listened(name):  # skipped unnumbered: its log would have a hole, so it goes
            self.logs.drop(name)
            return
        packets = self.logs.open(name).add(
            lambda seq: event_packets(self.sio, channel, {**header, "seq": seq, "snapshot": False, "data": data}))
        await fan_out(self.sio, channel, packets, name, self.metrics, self.most_queued)

    async def push_market(self, channel: str, market: str, data: Any) -> None:
        """Emit one delta to a market channel's room."""
        await self.push(channel, room(channel, market), {"channel": channel, "market": market}, data)

    async def push_bars(self, market: str, ts: int) -> None:
        """Push the current candles of a market that an event at `ts` just changed."""
        for resolution in RESOLUTIONS:
            name, bar = room("candles", market, resolution), self.live.bars.get((market, resolution))
            if bar is None or bar.time > ts:  # no candle of this resolution holds the event
                continue
            if not self.listened(name):  # as `push` skips it, without the view's cost
                self.logs.drop(name)
                continue
            header = {"channel": "candles", "market": market, "resolution": resolution}
            await self.push("candles", name, header, bar.view())

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
                self.logs.drop(name)
                continue
            await self.push("account", name, {"channel": "account", "wallet": wallet, "kind": kind}, data)
        if not rooms:
            self.wallet_rooms.pop(wallet, None)

    async def push_orders(self, wallet: str, data: Any) -> None:
        """Push an order's new state to the live orders rooms of a wallet's sessions; forget the rooms gone."""
        rooms = self.order_rooms.get(wallet, set())
        for name in list(rooms):
            await self.push("orders", name, {"channel": "orders", "wallet": wallet}, data)
            if not self.listened(name):
                rooms.discard(name)
        if not rooms:
            self.order_rooms.pop(wallet, None)
