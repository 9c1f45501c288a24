// The order ticket: what an order would do, from POST /api/v1/orders/simulate, or why it is refused.
import { post } from "./http.js";
import { byId, el, fill, price } from "./dom.js";

const SHOWN = [["fill_price", "Fill price"], ["price_source", "Priced on"], ["slippage_bps", "Slippage (bps)"],
  ["impact_bps", "Impact (bps)"], ["fee", "Fee"], ["fee_rate", "Fee rate"]];
const AFTER = [["equity", "Equity after"], ["initial_margin", "Initial margin after"],
  ["maintenance_margin", "Maintenance margin after"], ["free_collateral", "Free collateral after"],
  ["health", "Health after"], ["leverage", "Leverage after"], ["liquidation_price", "Liq. price after"]];

export class Ticket {
  constructor() {
    byId("ticket").addEventListener("submit", (event) => {
      event.preventDefault();
      this.simulate(new FormData(event.target));
    });
  }

  /** Offer the markets in the ticket. */
  markets(names) {
    byId("ticket-market").replaceChildren(...names.map((m) => el("option", { value: m }, m)));
  }

  async simulate(form) {
    const order = { subaccount: 0, market: form.get("market"), side: form.get("side"), size: form.get("size").trim() };
    const limit = form.get("price").trim();
    if (limit) order.price = limit;
    const result = byId("ticket-result");
    result.dataset.state = "pending";
    try {
      this.show(await post("/api/v1/orders/simulate", order));
    } catch (error) {
      result.dataset.state = "refused";
      fill(result, [el("dt", {}, "Refused"), el("dd", { "data-field": "refusal" },
        error.status === 401 ? "sign in first: the ticket prices your own account" : error.message)]);
      fill(byId("ticket-route"), []);
    }
  }

  show(ticket) {
    const result = byId("ticket-result");
    result.dataset.state = ticket.allowed ? "allowed" : "refused";
    const pairs = [["allowed", ticket.allowed ? "Allowed" : "Refused", ticket.reason],
      ...SHOWN.map(([field, label]) => [field, label, ticket[field]]),
      ...AFTER.map(([field, label]) => [`after.${field}`, label, ticket.after[field]])];
    fill(result, pairs.flatMap(([field, label, value]) => [el("dt", {}, label),
      el("dd", { "data-field": field }, value === null || value === undefined ? "—" : String(value))]));
    fill(byId("ticket-route"), ticket.route.map((leg) => el("tr", { "data-venue": leg.venue },
      el("th", { scope: "row" }, leg.venue), el("td", {}, leg.size), el("td", { title: `fee ${leg.fee}` },
        `@ ${price(leg.average_price, 6)}`), el("td", { title: leg.why }, leg.reason))));
  }
}
