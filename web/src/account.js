// The signed-in wallet's account: figures, health gauge, positions, ledger and P&L history; live from `account`.
import { get, Refused } from "./http.js";
import { byId, clock, el, fill, frameBatched, setText } from "./dom.js";

const FIGURES = [["equity", "Equity"], ["collateral", "Collateral"], ["free_collateral", "Free collateral"],
  ["leverage", "Leverage"], ["health", "Health"], ["maintenance_margin", "Maintenance margin"],
  ["initial_margin", "Initial margin"], ["state", "State"]];
const LEDGER_ROWS = 30;
const REFRESH_MS = 3000; // the ledger (collateral's changes) is fetched again at most this often

export class Account {
  constructor(live, feed) {
    this.live = live;
    this.feed = feed;
    this.wallet = null;
    this.subaccount = null;
    this.refreshing = null;
    this.draw = frameBatched(() => this.render());
  }

  /** Show a wallet's account and follow it live; `null` clears the panel. */
  async show(wallet) {
    if (this.wallet) this.live.unsubscribe({ channel: "account" });
    Object.assign(this, { wallet, subaccount: null });
    byId("account").hidden = !wallet;
    byId("account-empty").hidden = Boolean(wallet);
    if (!wallet) return;
    setText(byId("account-empty"), "No account yet: deposit to start.");
    try {
      this.take((await get(`/api/v1/accounts/${wallet}`)).subaccounts);
    } catch (error) {
      if (!(error instanceof Refused && error.status === 404)) throw error;
      byId("account-empty").hidden = false;
    }
    this.live.subscribe({ channel: "account" }, (event) => this.event(event));
    await Promise.all([this.history(), this.feed.alerts(wallet)]);
  }

  event(event) {
    if (event.snapshot) this.take(event.data?.subaccounts ?? []);
    else if (event.kind === "state") this.take([event.data]);
    else if (event.kind === "alert") this.feed.add([event.data], true);
  }

  /** Hold the newest figures of the first sub-account (the one the ticket trades). */
  take(subaccounts) {
    const first = subaccounts.find((s) => s.subaccount === (this.subaccount?.subaccount ?? 0)) ?? subaccounts[0];
    if (!first) return;
    if (this.subaccount && first.collateral !== this.subaccount.collateral) this.soon(); // a new ledger entry
    this.subaccount = first;
    byId("account-empty").hidden = true;
    this.draw();
  }

  /** Fetch the ledger and the hourly P&L again soon (once however many fills come meanwhile). */
  soon() {
    this.refreshing ??= setTimeout(() => { this.refreshing = null; this.history(); }, REFRESH_MS);
  }

  async history() {
    const wallet = this.wallet;
    const [ledger, hours] = await Promise.all([get(`/api/v1/accounts/${wallet}/ledger`, { limit: LEDGER_ROWS }),
      get(`/api/v1/accounts/${wallet}/history`, { resolution: "1h", limit: 24 })]);
    if (wallet !== this.wallet) return;
    const own = ledger.filter((e) => e.subaccount === this.subaccount?.subaccount);
    if (this.subaccount && Number(own.at(-1)?.balance_after ?? 0) !== Number(this.subaccount.collateral)) {
      this.soon(); // the warehouse has not stored the newest entry yet
    }
    fill(byId("ledger"), ledger.reverse().map((e) => el("tr", { "data-id": e.id }, el("td", {}, clock(e.ts)),
      el("td", {}, e.kind), el("td", { "data-sign": e.amount.startsWith("-") ? "down" : "up" }, e.amount),
      el("td", {}, e.balance_after))));
    fill(byId("history"), hours.reverse().map((h) => el("tr", {}, el("td", {}, new Date(h.time).toISOString().slice(0, 13)),
      el("td", {}, h.equity), el("td", {}, h.unrealised_pnl), el("td", {}, h.realised_pnl), el("td", {}, h.funding),
      el("td", {}, h.fees))));
  }

  render() {
    const sub = this.subaccount;
    if (!sub) return;
    const figures = byId("account-figures");
    if (figures.children.length === 0) {
      figures.append(...FIGURES.flatMap(([field, label]) => [el("dt", {}, label), el("dd", { "data-field": field })]));
    }
    for (const [field] of FIGURES) setText(figures.querySelector(`[data-field="${field}"]`), sub[field] ?? "—");
    const health = byId("health");
    health.value = Number(sub.health);
    health.title = `health ${sub.health}`;
    fill(byId("positions"), (sub.positions ?? []).map((p) => el("tr", { "data-market": p.market },
      el("th", { scope: "row" }, p.market), el("td", { "data-field": "size" }, p.size),
      el("td", { "data-field": "entry_price" }, p.entry_price),
      el("td", { "data-field": "upnl", "data-sign": p.upnl.startsWith("-") ? "down" : "up" }, p.upnl),
      el("td", { "data-field": "liquidation_price" }, p.liquidation_price ?? "—"))));
  }
}
