// Candles: REST history, then the live `candles` room of the resolution shown (TradingView's Lightweight Charts).
import { CandlestickSeries, createChart } from "lightweight-charts";
import { get } from "./http.js";
import { byId, el, setText } from "./dom.js";

export const RESOLUTIONS = ["1m", "5m", "15m", "1h", "4h", "1d"];
const HISTORY = 500;

/** Return a candle as the chart takes it (time in seconds). */
function bar(candle) {
  return { time: Math.floor(candle.time / 1000), open: Number(candle.open), high: Number(candle.high),
    low: Number(candle.low), close: Number(candle.close) };
}

export class Chart {
  constructor(live) {
    this.live = live;
    this.market = null;
    this.resolution = "1m";
    this.last = 0;
    this.chart = createChart(byId("chart"), {
      autoSize: true,
      layout: { background: { color: "#12151c" }, textColor: "#c9ced8", attributionLogo: false },
      grid: { vertLines: { color: "#1e232d" }, horzLines: { color: "#1e232d" } },
      timeScale: { timeVisible: true, secondsVisible: false },
    });
    this.series = this.chart.addSeries(CandlestickSeries, { upColor: "#26a69a", downColor: "#ef5350",
      wickUpColor: "#26a69a", wickDownColor: "#ef5350", borderVisible: false });
    const buttons = RESOLUTIONS.map((r) => {
      const button = el("button", { type: "button", "data-resolution": r }, r);
      button.addEventListener("click", () => this.show(this.market, r));
      return button;
    });
    byId("resolutions").replaceChildren(...buttons);
  }

  /** Show a market's candles at a resolution: history first, then live. */
  async show(market, resolution) {
    if (this.market) this.live.unsubscribe(this.request());
    Object.assign(this, { market, resolution, last: 0 });
    for (const button of byId("resolutions").children) {
      button.classList.toggle("selected", button.dataset.resolution === resolution);
    }
    setText(byId("chart-title"), `${market} · ${resolution}`);
    byId("chart").dataset.resolution = resolution;
    byId("chart").dataset.loaded = "";
    const candles = await get(`/api/v1/markets/${market}/candles`, { resolution, limit: HISTORY });
    if (market !== this.market || resolution !== this.resolution) return; // another button was pressed meanwhile
    const bars = candles.map(bar);
    this.series.setData(bars);
    this.last = bars.at(-1)?.time ?? 0;
    byId("chart").dataset.candles = String(bars.length);
    byId("chart").dataset.loaded = resolution;
    this.live.subscribe(this.request(), (event) => this.candle(event.data));
  }

  request() {
    return { channel: "candles", market: this.market, resolution: this.resolution };
  }

  candle(data) {
    if (!data) return;
    const next = bar(data);
    if (next.time < this.last) return; // the chart takes only the newest candle or a new one
    this.last = next.time;
    this.series.update(next);
    byId("chart").dataset.live = String(data.time);
  }
}
