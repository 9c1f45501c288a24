// Depth: the consolidated book (each level names its venue) from `orderbook`, each venue's best bid and offer
// from `bbo`.
import { byId, el, fill, frameBatched, price } from "./dom.js";

const LEVELS = 8;

export class Depth {
  constructor(live) {
    this.live = live;
    this.market = null;
    this.book = null;
    this.bbo = null;
    this.draw = frameBatched(() => this.render());
  }

  /** Follow a market's book and BBO. */
  show(market) {
    if (this.market) {
      this.live.unsubscribe({ channel: "orderbook", market: this.market });
      this.live.unsubscribe({ channel: "bbo", market: this.market });
    }
    Object.assign(this, { market, book: null, bbo: null });
    this.draw();
    this.live.subscribe({ channel: "orderbook", market }, (event) => { this.book = event.data; this.draw(); });
    this.live.subscribe({ channel: "bbo", market }, (event) => { this.bbo = event.data; this.draw(); });
  }

  render() {
    const book = this.book ?? { bids: [], asks: [] };
    const level = (side) => (l) => el("tr", { "data-venue": l.venue }, el("td", {}, l.venue),
      el("td", { class: side }, price(l.price)), el("td", {}, price(l.size)));
    fill(byId("asks"), book.asks.slice(0, LEVELS).reverse().map(level("ask"))); // best ask just above best bid
    fill(byId("bids"), book.bids.slice(0, LEVELS).map(level("bid")));
    const venues = this.bbo?.venues ?? [];
    fill(byId("bbo"), venues.length ? venues.map((v) => el("tr", { "data-venue": v.venue },
      el("th", { scope: "row" }, v.venue), el("td", { class: "bid" }, price(v.bid?.price)),
      el("td", { class: "ask" }, price(v.ask?.price)),
      el("td", { "data-status": v.healthy ? "healthy" : "degraded" },
        v.healthy ? "healthy" : v.crossed ? "crossed" : "stale"))) : [
      el("tr", {}, el("td", { colspan: "4", class: "muted" }, "no venue's book yet"))]);
  }
}
