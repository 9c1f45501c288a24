// The terminal: one page over the gateway's public REST and Socket.IO API.
import "./style.css";
import { Account } from "./account.js";
import { Chart } from "./chart.js";
import { Depth } from "./depth.js";
import { byId, setText } from "./dom.js";
import { Feed } from "./feed.js";
import { Live } from "./live.js";
import { Markets } from "./markets.js";
import { Ticket } from "./ticket.js";
import * as wallet from "./wallet.js";

/** Show a message to the trader (a refusal, a failed sign-in), or hide it. */
function notice(text) {
  const node = byId("notice");
  node.hidden = !text;
  setText(node, text || "");
}

/** Show the link's state: live, reconnecting, and the stale badge while data may be old. */
function linkState(live) {
  const link = byId("link");
  const state = live.socket.connected ? "live" : live.wasConnected ? "reconnecting" : "connecting";
  link.dataset.state = state;
  link.dataset.resyncs = String(live.resyncs);
  link.dataset.resync = live.lastResync;
  setText(link, live.resyncs ? `${state} · resynced ${live.resyncs}× (${live.lastResync})` : state);
  byId("stale").hidden = !live.stale;
}

const live = new Live(linkState, notice);
const feed = new Feed(live);
const account = new Account(live, feed);
const chart = new Chart(live);
const depth = new Depth(live);
const ticket = new Ticket();
const markets = new Markets(live, select);

/** Show a market in the chart, the depth and the ticket. */
function select(market) {
  markets.select(market);
  depth.show(market);
  byId("ticket-market").value = market;
  chart.show(market, chart.resolution).catch((error) => notice(`candles: ${error.message}`));
}

/** Show who is signed in, and their account. */
async function signedIn(session) {
  setText(byId("wallet"), session ? `${session.wallet.slice(0, 4)}…${session.wallet.slice(-4)}` : "");
  byId("wallet").title = session?.wallet ?? "";
  byId("wallet").dataset.wallet = session?.wallet ?? "";
  byId("sign-in").hidden = Boolean(session);
  byId("sign-out").hidden = !session;
  await account.show(session?.wallet ?? null);
}

byId("sign-in").addEventListener("click", async () => {
  try {
    const session = await wallet.signIn();
    live.reconnect(); // the new handshake carries the session cookie the account room needs
    notice("");
    await signedIn(session);
  } catch (error) {
    notice(`sign-in failed: ${error.message}`);
  }
});

byId("sign-out").addEventListener("click", async () => {
  await wallet.signOut().catch(() => {});
  await signedIn(null);
  live.reconnect();
});

async function start() {
  const names = await markets.start();
  ticket.markets(names);
  select(names[0]);
  await feed.start(names);
  await signedIn(await wallet.session());
}

start().catch((error) => notice(`the terminal could not start: ${error.message}`));
