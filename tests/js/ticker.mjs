// The official socket.io-client subscribes to a market's ticker and prints what it received as JSON.
// usage: node ticker.mjs URL MARKET COUNT — exits 0 after COUNT live ticker deltas, 1 on error or after 30 s.
import { io } from "socket.io-client";

const [url, market, count] = [process.argv[2], process.argv[3], Number(process.argv[4] ?? 3)];
const seen = { ack: null, snapshot: null, deltas: [] };
const socket = io(url, { transports: ["websocket"], reconnection: false, timeout: 10000 });

function finish(code, error) {
  process.stdout.write(JSON.stringify({ ...seen, error }) + "\n");
  socket.close();
  process.exit(code);
}

setTimeout(() => finish(1, "timed out"), 30000);
socket.on("connect_error", (err) => finish(1, `connect_error: ${err.message}`));
socket.on("error", (err) => finish(1, `error event: ${JSON.stringify(err)}`));
socket.on("ticker", (event) => {
  if (event.snapshot) seen.snapshot = event;
  else seen.deltas.push(event);
  if (seen.deltas.length >= count) finish(0);
});
socket.on("connect", async () => {
  seen.ack = await socket.emitWithAck("subscribe", { channel: "ticker", market });
});
