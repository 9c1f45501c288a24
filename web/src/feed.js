// MIKEY's feed: market signals for everyone, the wallet's own alerts once signed in, newest first, coloured by
// severity.
import { get } from "./http.js";
import { byId, clock, el } from "./dom.js";

const KEPT = 80;

export class Feed {
  constructor(live) {
    this.live = live;
    this.seen = new Set();
  }

  /** Show the newest market signals, then follow every market's. */
  async start(markets) {
    this.add(await get("/api/v1/signals", { limit: 30 }), false);
    for (const market of markets) {
      this.live.subscribe({ channel: "signals", market }, (event) => this.add(
        Array.isArray(event.data) ? event.data : [event.data], false));
    }
  }

  /** Show a wallet's recent alerts. */
  async alerts(wallet) {
    this.add(await get(`/api/v1/accounts/${wallet}/alerts`, { limit: 30 }), true);
  }

  /** Put signals in the feed (each once), newest on top. */
  add(signals, own) {
    const list = byId("feed");
    for (const signal of [...signals].sort((a, b) => a.ts - b.ts)) {
      if (!signal?.id || this.seen.has(signal.id)) continue;
      this.seen.add(signal.id);
      list.prepend(el("li", { "data-severity": signal.severity, "data-kind": signal.kind, "data-own": own ? "yes" : "" },
        el("time", {}, clock(signal.ts)), el("span", { class: "kind" }, own ? `alert · ${signal.kind}` : signal.kind),
        el("span", {}, signal.message)));
    }
    while (list.children.length > KEPT) list.lastElementChild.remove();
  }
}
