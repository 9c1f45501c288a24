// The markets strip: oracle, mark, 24-hour change, funding rate and countdown, status; live from `ticker` and
// `funding`, started from REST.
import { get } from "./http.js";
import { byId, clock, countdown, el, frameBatched, percent, price, setText } from "./dom.js";

const HOUR_MS = 3_600_000;

export class Markets {
  constructor(live, onSelect) {
    this.live = live;
    this.onSelect = onSelect;
    this.rows = new Map();
    this.draw = frameBatched(() => this.render());
  }

  /** Load the markets, draw a row each, and follow their tickers and funding; return the market names. */
  async start() {
    const markets = await get("/api/v1/markets");
    const body = byId("markets");
    for (const m of markets) {
      const open = m.oracle_price && m.change_24h !== null ? Number(m.oracle_price) / (1 + Number(m.change_24h)) : null;
      const row = this.row(m.market);
      body.append(row.node);
      Object.assign(row, { oracle: m.oracle_price, mark: m.mark_price, status: m.status, reason: m.reason,
        ts: m.updated_at, open24: open, rate: m.funding_rate, next: m.next_funding_time, paused: m.paused });
      this.live.subscribe({ channel: "ticker", market: m.market }, (event) => this.ticker(row, event.data));
      this.live.subscribe({ channel: "funding", market: m.market }, (event) => this.funding(row, event.data));
    }
    this.draw();
    return markets.map((m) => m.market);
  }

  row(market) {
    const cells = Object.fromEntries(["oracle", "mark", "change", "rate", "countdown", "status"].map(
      (field) => [field, el("td", { "data-field": field })]));
    const node = el("tr", { "data-market": market, tabindex: "0" }, el("th", { scope: "row" }, market),
      ...Object.values(cells));
    node.addEventListener("click", () => this.onSelect(market));
    const row = { market, node, cells };
    this.rows.set(market, row);
    return row;
  }

  ticker(row, data) {
    if (!data) return;
    Object.assign(row, { oracle: data.oracle_price, mark: data.mark_price, status: data.status, reason: data.reason,
      ts: data.ts });
    row.next = Math.floor(data.ts / HOUR_MS) * HOUR_MS + HOUR_MS; // funding settles at each whole hour (event time)
    this.draw();
  }

  funding(row, data) {
    const newest = Array.isArray(data) ? data.at(-1) : data;
    if (newest?.rate !== undefined) row.rate = newest.rate;
    this.draw();
  }

  /** Mark the market shown in the chart and depth. */
  select(market) {
    for (const row of this.rows.values()) row.node.classList.toggle("selected", row.market === market);
  }

  render() {
    for (const row of this.rows.values()) {
      const { cells } = row;
      setText(cells.oracle, price(row.oracle));
      setText(cells.mark, price(row.mark));
      const change = row.open24 && row.oracle ? Number(row.oracle) / row.open24 - 1 : null;
      setText(cells.change, percent(change));
      cells.change.dataset.sign = change === null ? "" : change >= 0 ? "up" : "down";
      setText(cells.rate, row.rate === null || row.rate === undefined ? "—" : percent(row.rate, 4));
      setText(cells.countdown, row.ts ? countdown(row.next - row.ts) : "—");
      const degraded = row.status !== "healthy";
      setText(cells.status, degraded ? `degraded: ${row.reason || "no reason given"}` : `healthy ${clock(row.ts)}`);
      cells.status.dataset.status = degraded ? "degraded" : "healthy";
    }
  }
}
