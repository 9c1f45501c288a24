// The Socket.IO link: subscriptions that survive reconnects, each room's `seq` followed, resync with `since_seq`
// after a dropped connection or a gap, and how fresh the data is.
import { io } from "socket.io-client";

export const CHANNELS = ["ticker", "trades", "candles", "funding", "signals", "orderbook", "bbo", "account", "orders",
  "status"];
const STALE_MS = 5000; // the simulator and the oracles tick every second or so: 5 s of silence is old data

/** Return the key of a subscription or of an event (the room it is about, as the client knows it). */
export function roomKey({ channel, market, resolution, venue }) {
  if (channel === "account" || channel === "orders" || channel === "status") return channel;
  return [channel, market, channel === "candles" ? resolution ?? "1m" : "", channel === "orderbook" ? venue ?? "" : ""]
    .join("|");
}

export class Live {
  /** Open the link; `onChange` hears when its state (connected, stale, resyncs) changes. */
  constructor(onChange, onRefused) {
    this.subs = new Map();
    this.onChange = onChange;
    this.onRefused = onRefused;
    this.heard = 0;
    this.resyncs = 0;
    this.lastResync = "";
    this.pending = 0;
    this.wasConnected = false;
    this.socket = io({ transports: ["websocket"], withCredentials: true });
    this.socket.on("connect", () => this.connected());
    this.socket.on("disconnect", () => this.dropped());
    this.socket.on("error", (event) => this.onRefused(event?.message ?? "refused"));
    for (const channel of CHANNELS) this.socket.on(channel, (event) => this.deliver(event));
    setInterval(() => this.changed(), 1000);
  }

  /** Follow a room: `handler` gets its snapshot, then every delta in order. */
  subscribe(request, handler) {
    const sub = { request, handler, seq: null, asking: false };
    this.subs.set(roomKey(request), sub);
    if (this.socket.connected) this.ask(sub);
  }

  /** Stop following a room. */
  unsubscribe(request) {
    if (this.subs.delete(roomKey(request)) && this.socket.connected) this.socket.emit("unsubscribe", request);
  }

  /** Open a new handshake (it carries the session cookie just set or just cleared); every room resyncs. */
  reconnect() {
    this.socket.disconnect();
    this.socket.connect();
  }

  /** Tell whether the data may be old: no link, a resync under way, or silence past STALE_MS. */
  get stale() {
    return !this.socket.connected || this.pending > 0 || (this.subs.size > 0 && Date.now() - this.heard > STALE_MS);
  }

  connected() {
    for (const sub of this.subs.values()) this.ask(sub);
    this.wasConnected = true;
    this.changed();
  }

  /** Forget the subscriptions under way: their acks died with the connection, the next one asks again. */
  dropped() {
    for (const sub of this.subs.values()) sub.asking = false;
    this.pending = 0;
    this.changed();
  }

  /** Subscribe to a room, from the last `seq` held when there is one. */
  ask(sub) {
    const request = sub.seq === null ? sub.request : { ...sub.request, since_seq: sub.seq };
    sub.asking = true;
    this.pending += 1;
    const link = this.socket.id;
    this.socket.emit("subscribe", request, (ack) => {
      if (this.socket.id !== link) return; // an ack of a connection since dropped (its count was reset)
      sub.asking = false;
      this.pending -= 1;
      if (!ack?.ok) {
        this.onRefused(ack?.error?.message ?? "subscription refused");
      } else if (ack.resync) {
        this.resyncs += 1;
        this.lastResync = ack.resync;
      }
      this.changed();
    });
  }

  /** Hand an event to its room's handler in `seq` order; on a gap, ask for what was missed. */
  deliver(event) {
    const sub = this.subs.get(roomKey(event));
    if (!sub) return;
    this.heard = Date.now();
    if (!event.snapshot && sub.seq !== null && event.seq !== sub.seq + 1) {
      if (!sub.asking && event.seq > sub.seq + 1) this.ask(sub);
      return; // a replayed delta already held, or one past a gap the resync fills
    }
    sub.seq = event.seq;
    sub.handler(event);
  }

  changed() {
    this.onChange(this);
  }
}
