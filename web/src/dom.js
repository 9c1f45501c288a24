// Small DOM helpers: the page builds its rows with text nodes only (no HTML strings), so nothing a feed sends can
// become markup.

/** Return the element with this id. */
export const byId = (id) => document.getElementById(id);

const EXPONENT = /^(-?)(\d+)(?:\.(\d+))?E([+-]?\d+)$/i;

/** Return an exact decimal string in plain notation, its digits unchanged ("0E-9" is "0.000000000", as Python's
 * `format(d, "f")` writes it); any other text as it is. */
export function plain(text) {
  const match = EXPONENT.exec(text);
  if (!match) return text;
  const [, sign, whole, fraction = "", exponent] = match;
  const digits = whole + fraction;
  const point = whole.length + Number(exponent);
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}

/** Return a new element with attributes and children (strings become text, exact decimals in plain notation). */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value !== undefined && value !== null) node.setAttribute(name, value);
  }
  for (const child of children) node.append(typeof child === "string" ? plain(child) : child ?? "");
  return node;
}

/** Set an element's text (an exact decimal in plain notation) only when it changed (a DOM write per tick would cost
 * frames). */
export function setText(node, text) {
  const shown = text === null || text === undefined ? "—" : plain(String(text));
  if (node.textContent !== shown) node.textContent = shown;
}

/** Return a decimal string with thousands separators and at most `digits` decimals, for prices on screen. */
export function price(value, digits = 4) {
  if (value === null || value === undefined || value === "") return "—";
  return Number(value).toLocaleString("en-US", { maximumFractionDigits: digits });
}

/** Return a ratio as a signed percentage. */
export function percent(value, digits = 2) {
  if (value === null || value === undefined) return "—";
  const number = Number(value) * 100;
  return `${number > 0 ? "+" : ""}${number.toFixed(digits)} %`;
}

/** Return a UTC time of day for event-time milliseconds. */
export function clock(ms) {
  return new Date(ms).toISOString().slice(11, 19);
}

/** Return a duration in ms as m:ss (h:mm:ss past an hour). */
export function countdown(ms) {
  const total = Math.max(0, Math.floor(ms / 1000));
  const [h, m, s] = [Math.floor(total / 3600), Math.floor((total % 3600) / 60), total % 60];
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(s)}` : `${m}:${two(s)}`;
}

/** Replace a table body's rows. */
export function fill(body, rows) {
  body.replaceChildren(...rows);
}

/** Call `draw` once in the next animation frame however often it is asked for before then. */
export function frameBatched(draw) {
  let asked = false;
  return () => {
    if (asked) return;
    asked = true;
    requestAnimationFrame(() => {
      asked = false;
      draw();
    });
  };
}
