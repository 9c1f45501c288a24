"""Margin and funding in integer units, every holder of a book at once: the Decimal engine's figures, bit for bit.

A compiled pass (numba) over int64 columns gives what `streams.domain.margin.assess` and
`Account.settle_funding` give one account at a time, each figure the same value, digit for digit.

Units (DESIGN's scales, `streams.domain`): sizes in 1e-9 base units, prices and funding indices in
1e-12 USD, money in 1e-9 USD, health in 1e-4, and margin rates (MMR, IMR) in 1e-9.

Range, refused at the boundary (a `ValueError` naming the value; the `_in_range` passes refuse a figure per account
and give the others'), never wrapped:
- |size| ≤ 9e9 base units; 0 < price ≤ 4e6 USD; |funding index| ≤ 4e6 USD; 0 < rate ≤ 1;
  |collateral| ≤ 1e9 USD; at most 4 markets per account. Columns must hold integers (units); a
  Decimal off its unit's grid (more places) is refused by `units`.
- Every figure of one position (P&L, funding owed, notional, margins) must be at most 1e9 USD; a pass
  that makes a larger one refuses its inputs. So an account's sums (at most 2 × 4 + 1 terms) stay
  under 9e18 units: they never wrap.

Why the integers equal the Decimals. The Decimal engine rounds each figure twice: its product is
rounded to the 28 significant digits of Python's default context (half to even), then quantised
to the unit (half to even). The pass multiplies exactly in 128 bits (two 64-bit limbs) and does the
same two roundings. Health is `floor_1e-4(100 × round28(1 − round28(MM / equity)))` (the × 100
is exact), and with equity ≤ 9e18 units the two inner roundings cannot move it: together they move
1 − MM/equity by at most 1e-28, while its distance to a 1e-6 step is a multiple of
1/(1e6 × equity) ≥ 1.1e-25, and a value on a step has few digits and is not rounded at all. So
health = 1e6 − ceil(1e6 × MM / equity) in 1e-4 units, which the pass computes exactly.
The exactness holds in the default context (28 digits, half to even), where the engine runs.

A Decimal amount that rounds to zero keeps its product's sign (`-0E-9`); integers have no −0. No
byte the platform publishes or stores carries that sign: published figures are canonical (no −0),
a zero payment is not published, and collateral, starting at +0, never becomes −0.

Leverage is `to_ratio(notional / equity)`: its 28-digit division cannot move the half-to-even rounding
to 1e-4 either (a tie lies at least 1/(2e4 × equity) from the exact ratio, the division's error is at
most 0.5e-27 × notional / equity, and notional < 1e23 units), so it is round(1e4 × notional / equity),
exactly; `NO_LEVERAGE` when equity ≤ 0 (the Decimal's None). A leverage over 9e14 (equity under
notional / 9e14) is refused like a figure out of range.

Liquidation prices (`liquidation_price`) in 1e-12 USD: `(others' MM − others' equity + size × entry) / slope`,
slope = size − |size| × MMR, each step of it in the default context, then `to_price`. NO_PRICE (−1) stands for
the Decimal's None (a slope of 0, a price ≤ 0); a price of 0E-12 (a positive quotient under half a unit) is 0.
A price over LIQUIDATION_LIMIT (9e6 USD) is BEYOND_PRICE (−2), per position, never wrapped: a short with much
collateral has one far above int64 at 1e-12 (1e9 USD is 1e21 units). A price of 1e20 USD or more is NO_PRICE, as
the Decimal engine gives none there (`margin.PRICE_CEILING`): its 28-digit quotient q × 10^k units has
digits(q) + k > 32.
Why the integers equal the Decimals, step by step (n: 1e-9 money units):
- others' equity and others' MM are exact in both (sums of at most 9 money figures, under 9e18 n), and so is
  their difference D (under 1.2e19 n, 20 digits): the pass holds it as a magnitude in 64 unsigned bits and a sign.
- size × entry is the exact 128-bit product in 1e-21 USD, rounded to 28 digits (`_significant`), as Decimal's.
- D + that: both scaled to the finer of their two exponents (1e-9 or the product's), each then under 2^128 and
  their sum too (|size × entry| ≤ 3.6e37 at 1e-21, |D| ≤ 1.2e31 there), so the signed sum is exact before its
  28-digit rounding; 0 (or a sign other than the slope's) is NO_PRICE, as `price > 0` is false for it.
- The slope is exact in 1e-18 (|size| × (1 ± MMR), at most 1.8e28): a long's has at most 28 digits, a short's
  may have 29 and is rounded as Decimal rounds it. A long with MMR = 1 has slope 0: NO_PRICE.
- The quotient of the two 28-digit coefficients: scaled by a power of ten so that it lies in [1, 10), its 29
  leading digits come from an exact long division (a first digit, then chunks of 7 digits from the remainder,
  each chunk guessed in floats and corrected by exact 128-bit products, so no float decides a digit); a nonzero
  remainder becomes a 30th digit 1 (a sticky digit: it sits strictly between two candidates of any coarser
  rounding, as the true tail does), so rounding off two digits half to even is the 28-digit quotient exactly.
- `to_price` then rounds that 28-digit value (c × 10^E) to 1e-12 half to even: exact on integers. Both
  roundings are done, not argued away: a 28-digit quotient that lands exactly on a half unit goes to even.
- A shorter route gives the same price where the quotient's whole part (in 1e-12) has 10 to 19 digits, as nearly
  every price does: its next 9 digits decide both roundings unless they are 499999999 or 500000000, since the 28
  digits keep at least 9 past the unit and so move it by half a 1e-9 unit at most. That route divides out the
  whole part and those 9 digits only; the others take the 28-digit quotient.
"""

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from numba import njit
from numba.cpython.unsafe.numbers import leading_zeros

from quantdesk.compiled import compiled

SIZE_PLACES, PRICE_PLACES, MONEY_PLACES, RATE_PLACES, HEALTH_PLACES = 9, 12, 9, 9, 4
SIZE_LIMIT = 9 * 10**18  # 9e9 base units
PRICE_LIMIT = 4 * 10**18  # 4e6 USD: a difference of two prices or indices fits int64
MONEY_LIMIT = 10**18  # 1e9 USD per figure of one position, and for collateral
MONEY_UNIT = Decimal(1).scaleb(-MONEY_PLACES)  # 1E-9
RATE_LIMIT = 10**9  # a margin rate of at most 1
MARKETS_LIMIT = 4
FULL_HEALTH = 10**6  # 100 in 1e-4
RATIO_PLACES = 4  # leverage's unit
NO_LEVERAGE = -1  # equity ≤ 0: no leverage
LEVERAGE_LIMIT = 9 * 10**18  # 9e14 in 1e-4
NO_PRICE = -1  # no liquidation price: the Decimal's None
BEYOND_PRICE = -2  # a liquidation price over LIQUIDATION_LIMIT
LIQUIDATION_LIMIT = 9 * 10**18  # 9e6 USD in 1e-12

# What a pass can refuse (its error names it; 0: nothing).
FIGURES = ("", "unrealised P&L", "unsettled funding", "notional", "maintenance margin", "initial margin", "leverage")

_U = np.uint64
_MASK32, _SHIFT32, _ONE, _NIL = _U(0xFFFFFFFF), _U(32), _U(1), _U(0)
_POW10 = np.array([10**k for k in range(20)], dtype=np.uint64)
_POW10_HI = np.array([10**k >> 64 for k in range(39)], dtype=np.uint64)
_POW10_LO = np.array([10**k & (2**64 - 1) for k in range(39)], dtype=np.uint64)
_DIGITS = 28  # the default decimal context's precision
_LIMIT = _U(MONEY_LIMIT)
_PRODUCT_EXP = -(SIZE_PLACES + PRICE_PLACES)
_SLOPE_EXP = -(SIZE_PLACES + RATE_PLACES)
_CHUNK = 7  # digits of a quotient per long-division step: a chunk times the divisor stays under 2^128
_TWO64 = 2.0**64
_HALF = _U(5 * 10**8)  # half a unit, in the 9 digits after it
_UNDECIDED = -3  # a price `_price_units` leaves to the 28-digit quotient


@dataclass(frozen=True)
class Margins:
    """Each account's figures (one row per account) and each position's (accounts × markets), in units."""

    unrealised_pnl: np.ndarray  # accounts × markets, then the account sums below
    unsettled_funding: np.ndarray
    notional: np.ndarray
    maintenance_margin: np.ndarray
    initial_margin: np.ndarray
    totals: np.ndarray  # accounts × 5: unrealised P&L, unsettled funding, notional, MM, IM
    equity: np.ndarray
    free_collateral: np.ndarray
    health: np.ndarray
    leverage: np.ndarray  # in 1e-4; NO_LEVERAGE when equity ≤ 0
    liquidation_price: np.ndarray  # accounts × markets, in 1e-12; NO_PRICE (also where none is held), BEYOND_PRICE


def units(value: Decimal, places: int, limit: int, name: str) -> int:
    """Return `value` in units of 10^-places, refusing one off that grid or beyond ±`limit` units."""
    try:
        numerator, denominator = value.as_integer_ratio()
    except (ValueError, OverflowError) as error:
        raise ValueError(f"{name} {value} is not a number") from error
    scaled, rest = divmod(numerator * 10**places, denominator)
    if rest:
        raise ValueError(f"{name} {value} has more than {places} decimal places")
    if not -limit <= scaled <= limit:
        raise ValueError(f"{name} {value} is beyond ±{Decimal(limit).scaleb(-places)}")
    return scaled


def money(amount: int) -> Decimal:
    """Return an amount in 1e-9 USD units as the Decimal `to_money` makes (a product by 1e-9, as `scaleb` would
    give it but a third quicker: exact for units of up to 28 digits)."""
    return Decimal(int(amount)) * MONEY_UNIT


def health_figure(value: int) -> Decimal:
    """Return a health in 1e-4 units as the Decimal `to_health` makes."""
    return Decimal(int(value)).scaleb(-HEALTH_PLACES)


def leverage_figure(value: int) -> Decimal | None:
    """Return a leverage in 1e-4 units as the Decimal `leverage()` makes, None for NO_LEVERAGE."""
    return None if value == NO_LEVERAGE else Decimal(int(value)).scaleb(-RATIO_PLACES)


def price_figure(value: int) -> Decimal | None:
    """Return a liquidation price in 1e-12 units as `liquidation_price` makes it, None for NO_PRICE; refuse
    BEYOND_PRICE (the pass does not hold that price)."""
    if value == BEYOND_PRICE:
        raise ValueError(f"the liquidation price is beyond {LIQUIDATION_LIMIT // 10**PRICE_PLACES} USD")
    return None if value == NO_PRICE else Decimal(int(value)).scaleb(-PRICE_PLACES)


def funding_owed(size: np.ndarray, index_at_settle: np.ndarray, index_now: int) -> np.ndarray:
    """Return what each holder of a market owes at a close, `size × (index_now − index at its last settle)`, as
    `settle_funding` rounds it (positive: it pays); refuse sizes, indices or a payment out of range."""
    owed, in_range = funding_owed_in_range(size, index_at_settle, index_now)
    if not in_range.all():
        refused = int(np.argmin(in_range))
        raise ValueError(f"funding owed by holder {refused} (size {size[refused]}, index {index_at_settle[refused]} "
                         f"to {index_now}) is beyond ±{money(MONEY_LIMIT)} USD")
    return owed


def funding_owed_in_range(size: np.ndarray, index_at_settle: np.ndarray,
                          index_now: int) -> tuple[np.ndarray, np.ndarray]:
    """Return `funding_owed` of the holders whose payment is within range, and which those are (another's figure
    is not there): one holder beyond it leaves the others' figures as they are. Refuse sizes or indices out of
    range."""
    size, index_at_settle = _column(size, SIZE_LIMIT, "size"), _column(index_at_settle, PRICE_LIMIT, "funding index")
    now = _column([index_now], PRICE_LIMIT, "funding index")[0]
    owed, in_range = np.empty_like(size), np.ones(len(size), dtype=np.bool_)
    _owed(size, index_at_settle, now, owed, in_range)
    return owed, in_range


def account_margins(collateral: np.ndarray, size: np.ndarray, entry: np.ndarray, index_at_settle: np.ndarray,
                    oracle: np.ndarray, index_now: np.ndarray, mmr: np.ndarray, imr: np.ndarray) -> Margins:
    """Return every account's margin at the markets' oracle prices, as `Account.margin` makes it, with each
    position's liquidation price.

    Accounts are rows, markets columns: `size`, `entry` and `index_at_settle` are accounts × markets (size 0: no
    position there), `oracle`, `index_now`, `mmr` and `imr` one per market, `collateral` one per account. Refuse
    any column out of range, or a figure the pass would make beyond it."""
    book = _book(collateral, size, entry, index_at_settle, oracle, index_now, mmr, imr)
    margins, refused = _pass(book)
    if refused[:, 0].any():
        a = int(np.argmax(refused[:, 0] != 0))
        _refuse(book, margins.totals, margins.equity, margins.leverage, *(int(i) for i in refused[a]), a)
    return margins


def account_margins_in_range(collateral: np.ndarray, size: np.ndarray, entry: np.ndarray,
                             index_at_settle: np.ndarray, oracle: np.ndarray, index_now: np.ndarray, mmr: np.ndarray,
                             imr: np.ndarray) -> tuple[Margins, np.ndarray]:
    """Return `account_margins` of the accounts whose figures are all within range, and which those are (another's
    figures are not all there): one account beyond it leaves the others' figures as they are. Refuse any column out
    of range."""
    margins, refused = _pass(_book(collateral, size, entry, index_at_settle, oracle, index_now, mmr, imr))
    return margins, refused[:, 0] == 0


def _pass(book: tuple[np.ndarray, ...]) -> tuple[Margins, np.ndarray]:
    """Run the compiled pass over checked columns; return its figures and, per account, what it refused (a figure,
    0: none) and in which market column."""
    accounts, markets = book[1].shape
    figures = np.empty((5, accounts, markets), dtype=np.int64)
    totals = np.empty((accounts, 5), dtype=np.int64)
    scores = np.empty((accounts, 4), dtype=np.int64)
    prices = np.empty((accounts, markets), dtype=np.int64)
    refused = np.zeros((accounts, 2), dtype=np.int64)  # why (FIGURES) and in which market column
    _margins(*book, *_significands(book[6], book[7]), figures, totals, scores, prices, refused)
    return Margins(*figures, totals, scores[:, 0], scores[:, 1], scores[:, 2], scores[:, 3], prices), refused


def _refuse(book: tuple[np.ndarray, ...], totals: np.ndarray, equity: np.ndarray, leverage: np.ndarray, figure: int,
            m: int, a: int) -> None:
    """Raise the error naming the first figure a pass refused, and the values it came from."""
    if FIGURES[figure] == "leverage":
        raise ValueError(f"the leverage of account row {a} (notional {money(totals[a, 2])}, equity "
                         f"{money(equity[a])} USD) is beyond {Decimal(LEVERAGE_LIMIT).scaleb(-RATIO_PLACES)}")
    raise ValueError(f"the {FIGURES[figure]} of account row {a} in market column {m} (size {book[1][a, m]}, "
                     f"entry {book[2][a, m]}, oracle {book[4][m]}) is beyond ±{money(MONEY_LIMIT)} USD")


def _book(collateral: np.ndarray, size: np.ndarray, entry: np.ndarray, index_at_settle: np.ndarray,
          oracle: np.ndarray, index_now: np.ndarray, mmr: np.ndarray, imr: np.ndarray) -> tuple[np.ndarray, ...]:
    """Return the columns as C-contiguous int64, refusing any value out of range or more than 4 markets."""
    if np.shape(size)[1] > MARKETS_LIMIT:
        raise ValueError(f"{np.shape(size)[1]} markets per account: at most {MARKETS_LIMIT}")
    size = _column(size, SIZE_LIMIT, "size")
    entry = _column(entry, PRICE_LIMIT, "entry")
    _check(entry[size != 0], 1, PRICE_LIMIT, "entry")
    oracle = _column(oracle, PRICE_LIMIT, "oracle price")
    _check(oracle, 1, PRICE_LIMIT, "oracle price")
    mmr, imr = _column(mmr, RATE_LIMIT, "mmr"), _column(imr, RATE_LIMIT, "imr")
    _check(mmr, 1, RATE_LIMIT, "mmr")
    _check(imr, 1, RATE_LIMIT, "imr")
    return (_column(collateral, MONEY_LIMIT, "collateral"), size, entry,
            _column(index_at_settle, PRICE_LIMIT, "funding index"), oracle,
            _column(index_now, PRICE_LIMIT, "funding index"), mmr, imr)


def _column(values: np.ndarray, limit: int, name: str) -> np.ndarray:
    """Return integer `values` as C-contiguous int64, refusing floats and any value beyond ±`limit` before the cast
    (which would wrap it)."""
    array = np.asarray(values)
    if array.dtype.kind not in "iu":
        raise ValueError(f"{name}: a column of {array.dtype}, not of integers (in units)")
    _check(array, -limit, limit, name)
    return np.ascontiguousarray(array, dtype=np.int64)


def _check(values: np.ndarray, low: int, high: int, name: str) -> None:
    """Refuse, naming it, the first of `values` outside [low, high]."""
    outside = (values < low) | (values > high)
    if outside.any():
        raise ValueError(f"{name} {values[outside][0]} is outside [{low}, {high}] units")


@compiled
def _owed(size: np.ndarray, index_at_settle: np.ndarray, index_now: np.int64, owed: np.ndarray,
          in_range: np.ndarray) -> None:  # pragma: no cover (compiled)
    """Write each holder's funding owed into `owed`, clearing `in_range` for each beyond range."""
    for i in range(size.shape[0]):
        owed[i], in_range[i] = _product_money(size[i], index_now - index_at_settle[i])


@compiled
def _margins(collateral, size, entry, index_at_settle, oracle, index_now, mmr, imr, rates, places, figures, totals,
             scores, prices, refused) -> None:  # pragma: no cover (compiled)
    """Write each position's figures, each account's sums, equity, free collateral, health, leverage and each
    position's liquidation price (`rates`, `places`: `_significands` of MMR and IMR)."""
    for a in range(size.shape[0]):
        upnl = owed = notional = mm = im = 0
        for m in range(size.shape[1]):
            figure = (0, 0, 0, 0, 0, 0)
            if size[a, m] != 0:
                figure = _position(size[a, m], entry[a, m], index_at_settle[a, m], oracle[m], index_now[m],
                                   rates[0, m], rates[1, m], places[0, m], places[1, m])
            if figure[0] and not refused[a, 0]:
                refused[a, 0], refused[a, 1] = figure[0], m
            figures[0, a, m], figures[1, a, m], figures[2, a, m] = figure[1], figure[2], figure[3]
            figures[3, a, m], figures[4, a, m] = figure[4], figure[5]
            upnl, owed, notional = upnl + figure[1], owed + figure[2], notional + figure[3]
            mm, im = mm + figure[4], im + figure[5]
        totals[a, 0], totals[a, 1], totals[a, 2], totals[a, 3], totals[a, 4] = upnl, owed, notional, mm, im
        equity = collateral[a] + upnl - owed
        scores[a, 0] = equity
        scores[a, 1] = equity - im if equity > im else 0  # not max(0, equity − im): that difference could wrap
        scores[a, 2] = _health(mm, equity)
        scores[a, 3], ok = _leverage(notional, equity)
        if not ok and not refused[a, 0]:
            refused[a, 0] = 6
        for m in range(size.shape[1]):
            prices[a, m] = NO_PRICE
            if size[a, m] != 0 and not refused[a, 0]:  # a refused pass raises: its figures are not all there
                prices[a, m] = _liquidation_price(size[a, m], entry[a, m], mmr[m], figures[0, a, m],
                                                  figures[3, a, m], equity, mm)


@njit(cache=True, nogil=True)
def _significands(mmr, imr):  # pragma: no cover (compiled)
    """Return each market's MMR and IMR without their trailing zeros, and the places each then has (0.03: 3 at
    1e-2): a product with a shorter factor is the same number, and mostly fits 64 bits."""
    rates, places = np.empty((2, mmr.shape[0]), dtype=np.uint64), np.empty((2, mmr.shape[0]), dtype=np.int64)
    for m in range(mmr.shape[0]):
        for k, rate in enumerate((mmr[m], imr[m])):
            rest, shift = rate, 0
            while rest % 10 == 0:
                rest, shift = rest // 10, shift + 1
            rates[k, m], places[k, m] = rest, RATE_PLACES - shift
    return rates, places


@compiled
def _position(size, entry, index_at_settle, oracle, index_now, mm_rate, im_rate, mm_places,
              im_places):  # pragma: no cover (compiled)
    """Return why one position is refused (0: it is not), its P&L, funding owed, notional, MM and IM (the rates: MMR
    and IMR as integers of so many decimal places)."""
    upnl, ok = _product_money(size, oracle - entry)
    if not ok:
        return 1, 0, 0, 0, 0, 0
    owed, ok = _product_money(size, index_now - index_at_settle)
    if not ok:
        return 2, 0, 0, 0, 0, 0
    hi, lo = _mul(_U(abs(size)), _U(oracle))
    hi, lo, exp = _significant(hi, lo, _PRODUCT_EXP)  # the notional as Decimal holds it, then times each rate
    notional, ok = _to_money(hi, lo, exp)
    if not ok:
        return 3, 0, 0, 0, 0, 0
    rhi, rlo = _mul_by(hi, lo, mm_rate)
    mm, ok = _to_money(rhi, rlo, exp - mm_places)
    if not ok:
        return 4, 0, 0, 0, 0, 0
    rhi, rlo = _mul_by(hi, lo, im_rate)
    im, ok = _to_money(rhi, rlo, exp - im_places)
    if not ok:
        return 5, 0, 0, 0, 0, 0
    return 0, upnl, owed, notional, mm, im


@compiled
def _health(maintenance_margin, equity):  # pragma: no cover (compiled)
    """Return 1e6 − ceil(1e6 × MM / equity) clamped to [0, 1e6]: health in 1e-4, as `health()` rounds it."""
    if equity <= 0 or maintenance_margin >= equity:
        return 0
    quotient, rest = _scaled_quotient(maintenance_margin, equity, FULL_HEALTH)
    return FULL_HEALTH - np.int64(quotient) - (1 if rest != _NIL else 0)


@compiled
def _leverage(notional, equity):  # pragma: no cover (compiled)
    """Return round(1e4 × notional / equity) half to even, as `leverage()` rounds it (NO_LEVERAGE when equity ≤ 0),
    and whether it is at most the leverage limit."""
    if equity <= 0:
        return NO_LEVERAGE, True
    whole, part = notional // equity, notional % equity  # 1e4 × notional / equity = 1e4 × whole + 1e4 × part / equity
    if whole > LEVERAGE_LIMIT // 10**RATIO_PLACES:
        return 0, False
    quotient, rest = _scaled_quotient(part, equity, 10**RATIO_PLACES)
    units, e = whole * 10**RATIO_PLACES + np.int64(quotient), _U(equity)
    if rest > e - rest or (rest == e - rest and units % 2 == 1):
        units += 1
    return units, units <= LEVERAGE_LIMIT


@compiled
def _liquidation_price(size, entry, mmr, upnl, maintenance_margin, equity, total_mm):  # pragma: no cover (compiled)
    """Return the oracle price at which equity meets MM, the account's other positions held, as `liquidation_price`
    rounds it, in 1e-12 units: NO_PRICE for its None (1e20 USD or more included), BEYOND_PRICE over
    LIQUIDATION_LIMIT."""
    if size > 0 and mmr == RATE_LIMIT:  # a long's slope is 0
        return NO_PRICE
    others_equity, others_mm = equity - upnl, total_mm - maintenance_margin
    gap_negative = others_mm < others_equity  # others' MM − others' equity: its magnitude fits 64 unsigned bits
    gap = _U(others_equity) - _U(others_mm) if gap_negative else _U(others_mm) - _U(others_equity)
    hi, lo = _mul(_U(abs(size)), _U(entry))
    hi, lo, exp = _significant(hi, lo, _PRODUCT_EXP)  # size × entry as Decimal holds it; its sign is the size's
    finer = min(-MONEY_PLACES, exp)
    ghi, glo = _scale(_NIL, gap, -MONEY_PLACES - finer)
    hi, lo = _scale(hi, lo, exp - finer)
    hi, lo, negative = _signed_sum(ghi, glo, gap_negative, hi, lo, size < 0)
    hi, lo, exp = _significant(hi, lo, finer)
    if (hi == _NIL and lo == _NIL) or negative != (size < 0):  # the price is ≤ 0: the slope has the size's sign
        return NO_PRICE
    shi, slo, slope_exp = _slope(size, mmr)
    price = _price_units(hi, lo, shi, slo, exp - slope_exp + PRICE_PLACES)
    if price != _UNDECIDED:
        return price
    hi, lo, places = _quotient(hi, lo, shi, slo)
    places += exp - slope_exp + PRICE_PLACES  # the quotient is hi:lo × 10^places price units
    if _digits(hi, lo) + places > 32:  # 1e20 USD (1e32 units) or more: none, as the Decimal engine says
        return NO_PRICE
    if places >= 0:  # 28 digits at a unit of 1e-12 or more: over 1e15 USD
        return BEYOND_PRICE
    hi, lo = _round_off(hi, lo, -places)
    return np.int64(lo) if hi == _NIL and lo <= _U(LIQUIDATION_LIMIT) else BEYOND_PRICE


@compiled
def _slope(size, mmr):  # pragma: no cover (compiled)
    """Return |size − |size| × mmr| as Decimal rounds it, (hi, lo, exp): exactly |size| × (1 ∓ mmr) in 1e-18, a
    short's rounded to 28 digits (it may have 29)."""
    hi, lo = _mul(_U(abs(size)), _U(RATE_LIMIT - mmr if size > 0 else RATE_LIMIT + mmr))
    return _significant(hi, lo, _SLOPE_EXP)


@compiled
def _price_units(nhi, nlo, shi, slo, exp):  # pragma: no cover (compiled)
    """Return n / s × 10^exp rounded to 28 significant digits, then to a unit, both half to even, for 0 < n, s ≤
    10^28, where its whole part has 10 to 19 digits and its next 9 digits decide both roundings; BEYOND_PRICE where
    it has 20 to 30; _UNDECIDED otherwise (the 28-digit quotient then decides)."""
    nhi, nlo, shi, slo, shift = _normalized(nhi, nlo, shi, slo)
    whole_digits = exp - shift + 1
    if 20 <= whole_digits <= 30:  # over 1e19 units, its 28-digit quotient under 1e20 USD
        return BEYOND_PRICE
    if not 10 <= whole_digits <= 19:
        return _UNDECIDED
    divisor = float(shi) * _TWO64 + float(slo)
    whole, rhi, rlo = _chunk(*_mul_by(nhi, nlo, _POW10[9]), shi, slo, divisor)  # the first 10 digits
    if whole_digits > 10:
        rest, rhi, rlo = _chunk(*_mul_by(rhi, rlo, _POW10[whole_digits - 10]), shi, slo, divisor)
        whole = whole * _POW10[whole_digits - 10] + rest
    fraction, rhi, rlo = _chunk(*_mul_by(rhi, rlo, _POW10[9]), shi, slo, divisor)
    if fraction == _HALF - _ONE or fraction == _HALF:  # 28 digits (9 to 18 of them past the unit) may round it onto
        return _UNDECIDED                              # a half unit, or it is one: a half may go either way
    if fraction > _HALF:
        whole += _ONE
    return np.int64(whole) if whole <= _U(LIQUIDATION_LIMIT) else BEYOND_PRICE


@compiled
def _quotient(nhi, nlo, shi, slo):  # pragma: no cover (compiled)
    """Return n / s rounded to 28 significant digits, half to even, as (hi, lo, exp), for 0 < n, s ≤ 10^28."""
    nhi, nlo, shi, slo, shift = _normalized(nhi, nlo, shi, slo)
    divisor = float(shi) * _TWO64 + float(slo)
    digit, rhi, rlo = _chunk(nhi, nlo, shi, slo, divisor)
    qhi, qlo = _NIL, digit
    for _ in range(28 // _CHUNK):  # 1 + 28 digits: the 29th decides the rounding
        rhi, rlo = _mul_by(rhi, rlo, _POW10[_CHUNK])
        digit, rhi, rlo = _chunk(rhi, rlo, shi, slo, divisor)
        qhi, qlo = _add(*_mul_by(qhi, qlo, _POW10[_CHUNK]), _NIL, digit)
    sticky = _ONE if rhi != _NIL or rlo != _NIL else _NIL
    qhi, qlo = _add(*_mul_by(qhi, qlo, _U(10)), _NIL, sticky)
    qhi, qlo = _round_off(qhi, qlo, 2)
    return qhi, qlo, -27 - shift


@compiled
def _normalized(nhi, nlo, shi, slo):  # pragma: no cover (compiled)
    """Return n and s scaled so that 1 ≤ n / s < 10, each under 10^29, and the power of ten n / s was scaled by."""
    shift = _digits(shi, slo) - _digits(nhi, nlo)  # the one scaled holds the other's digits
    if shift >= 0:
        nhi, nlo = _scale(nhi, nlo, shift)
    else:
        shi, slo = _scale(shi, slo, -shift)
    if _less(nhi, nlo, shi, slo):
        nhi, nlo = _mul_by(nhi, nlo, _U(10))
        shift += 1
    return nhi, nlo, shi, slo, shift


@compiled
def _chunk(rhi, rlo, shi, slo, divisor):  # pragma: no cover (compiled)
    """Return r // s and r % s for r < 10^10 × s, s ≤ 10^28: a float guess made exact by 128-bit products."""
    digit = _U(int((float(rhi) * _TWO64 + float(rlo)) / divisor))
    phi, plo = _mul_by(shi, slo, digit)
    while _less(rhi, rlo, phi, plo):
        digit -= _ONE
        phi, plo = _sub(phi, plo, shi, slo)
    rhi, rlo = _sub(rhi, rlo, phi, plo)
    while not _less(rhi, rlo, shi, slo):
        digit += _ONE
        rhi, rlo = _sub(rhi, rlo, shi, slo)
    return digit, rhi, rlo


@compiled
def _signed_sum(ahi, alo, a_negative, bhi, blo, b_negative):  # pragma: no cover (compiled)
    """Return a + b for two signed 128-bit magnitudes whose sum fits, as (hi, lo, negative)."""
    if a_negative == b_negative:
        hi, lo = _add(ahi, alo, bhi, blo)
        return hi, lo, a_negative
    if _less(ahi, alo, bhi, blo):
        hi, lo = _sub(bhi, blo, ahi, alo)
        return hi, lo, b_negative
    hi, lo = _sub(ahi, alo, bhi, blo)
    return hi, lo, a_negative


@compiled
def _digits(hi, lo):  # pragma: no cover (compiled)
    """Return how many decimal digits hi:lo > 0 has."""
    bits = 128 - np.int64(leading_zeros(hi)) if hi != _NIL else 64 - np.int64(leading_zeros(lo))
    fewer = (bits * 1233) >> 12  # ⌊bits × log10(2)⌋ for 128 bits at most: the digits are this or one more
    return fewer if _less(hi, lo, _POW10_HI[fewer], _POW10_LO[fewer]) else fewer + 1


@compiled
def _scale(hi, lo, places):  # pragma: no cover (compiled)
    """Return hi:lo × 10^places for a product under 2^128."""
    while places > 19:
        hi, lo = _mul_by(hi, lo, _POW10[19])
        places -= 19
    return _mul_by(hi, lo, _POW10[places])


@compiled
def _add(ahi, alo, bhi, blo):  # pragma: no cover (compiled)
    """Return ahi:alo + bhi:blo for a sum under 2^128."""
    lo = alo + blo
    return ahi + bhi + (_ONE if lo < alo else _NIL), lo


@compiled
def _sub(ahi, alo, bhi, blo):  # pragma: no cover (compiled)
    """Return ahi:alo − bhi:blo for ahi:alo ≥ bhi:blo."""
    return ahi - bhi - (_ONE if alo < blo else _NIL), alo - blo


@compiled
def _scaled_quotient(part, whole, factor):  # pragma: no cover (compiled)
    """Return floor(factor × part / whole) and its remainder, for 0 ≤ part < whole and factor ≤ 1e6."""
    e = _U(whole)
    phi, plo = _mul(_U(part), _U(factor))
    q = _U(int(factor * (part / whole)))  # a float guess within one of the floor, made exact below: the result
    qhi, qlo = _mul(q, e)                 # never depends on a float
    while _less(phi, plo, qhi, qlo):
        q -= _ONE
        qhi, qlo = _mul(q, e)
    while True:
        uhi, ulo = _mul(q + _ONE, e)
        if _less(phi, plo, uhi, ulo):
            break
        q += _ONE
        qhi, qlo = uhi, ulo
    return q, plo - qlo  # the remainder is under `whole`: the low limbs' difference is all of it


@compiled
def _product_money(a, b):  # pragma: no cover (compiled)
    """Return a × b (in 1e-21 USD) as money units the way `to_money(a × b)` rounds it, and whether it is in range."""
    hi, lo = _mul(_U(abs(a)), _U(abs(b)))
    amount, ok = _to_money(hi, lo, _PRODUCT_EXP)
    return (-amount if (a < 0) != (b < 0) else amount), ok


@compiled
def _to_money(hi, lo, exp):  # pragma: no cover (compiled)
    """Return the magnitude hi:lo × 10^exp rounded to 28 digits, then to 1e-9 (both half to even), as int64 units,
    and whether it is at most the money limit."""
    hi, lo, exp = _significant(hi, lo, exp)
    if exp > -MONEY_PLACES:  # 28 digits at a unit over 1e-9 is far beyond the limit
        return np.int64(0), False
    hi, lo = _round_off(hi, lo, -MONEY_PLACES - exp)
    ok = hi == _NIL and lo <= _LIMIT
    return np.int64(lo if ok else _NIL), ok


@compiled
def _significant(hi, lo, exp):  # pragma: no cover (compiled)
    """Return hi:lo × 10^exp rounded to 28 significant digits, half to even, as (hi, lo, exp)."""
    if _less(hi, lo, _POW10_HI[_DIGITS], _POW10_LO[_DIGITS]):
        return hi, lo, exp
    digits = _digits(hi, lo)
    hi, lo = _round_off(hi, lo, digits - _DIGITS)
    return hi, lo, exp + digits - _DIGITS


@compiled
def _round_off(hi, lo, places):  # pragma: no cover (compiled)
    """Return hi:lo / 10^places rounded half to even."""
    if places == 0:
        return hi, lo
    if hi == _NIL and places < 20:  # the common case: one 64-bit division
        quotient = lo // _POW10[places]
        rest, half = lo - quotient * _POW10[places], _POW10[places - 1] * _U(5)
        if rest > half or (rest == half and (quotient & _ONE) == _ONE):
            quotient += _ONE
        return _NIL, quotient
    sticky, left = False, places
    while left > 9:  # the lowest digits only tell whether the rest is exactly a half
        hi, lo, rest = _divmod(hi, lo, _POW10[9])
        sticky = sticky or rest != _NIL
        left -= 9
    hi, lo, rest = _divmod(hi, lo, _POW10[left])
    half = _POW10[left - 1] * _U(5)
    if rest > half or (rest == half and (sticky or (lo & _ONE) == _ONE)):
        lo += _ONE
        if lo == _NIL:
            hi += _ONE
    return hi, lo


@compiled
def _divmod(hi, lo, d):  # pragma: no cover (compiled)
    """Return hi:lo // d and hi:lo % d for 0 < d < 2^32, 32 bits at a time."""
    if hi == _NIL:
        return _NIL, lo // d, lo % d
    q3, rest = _step(_NIL, hi >> _SHIFT32, d)
    q2, rest = _step(rest, hi & _MASK32, d)
    q1, rest = _step(rest, lo >> _SHIFT32, d)
    q0, rest = _step(rest, lo & _MASK32, d)
    return (q3 << _SHIFT32) | q2, (q1 << _SHIFT32) | q0, rest


@compiled
def _step(rest, part, d):  # pragma: no cover (compiled)
    """Return one 32-bit digit of a long division by d and what remains (rest < d < 2^32: no overflow)."""
    current = (rest << _SHIFT32) | part
    digit = current // d
    return digit, current - digit * d


@compiled
def _mul(a, b):  # pragma: no cover (compiled)
    """Return the 128-bit product of two uint64 as (hi, lo)."""
    a0, a1, b0, b1 = a & _MASK32, a >> _SHIFT32, b & _MASK32, b >> _SHIFT32
    low, cross1, cross2 = a0 * b0, a0 * b1, a1 * b0
    middle = (low >> _SHIFT32) + (cross1 & _MASK32) + (cross2 & _MASK32)
    lo = (low & _MASK32) | (middle << _SHIFT32)
    hi = a1 * b1 + (cross1 >> _SHIFT32) + (cross2 >> _SHIFT32) + (middle >> _SHIFT32)
    return hi, lo


@compiled
def _mul_by(hi, lo, factor):  # pragma: no cover (compiled)
    """Return hi:lo × factor for a product under 2^128 (hi × factor fits 64 bits)."""
    carry, low = _mul(lo, factor)
    return hi * factor + carry, low


@compiled
def _less(ahi, alo, bhi, blo) -> bool:  # pragma: no cover (compiled)
    """Tell whether ahi:alo < bhi:blo."""
    return ahi < bhi or (ahi == bhi and alo < blo)
