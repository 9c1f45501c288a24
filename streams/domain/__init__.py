"""Pure domain math (no I/O): oracle guard, mark, TWAP, funding, margin, liquidation.

Scale and quantisation — the one place that decides it
-----------------------------------------------------
Money, prices, sizes and rates are `Decimal` everywhere in the domain, which holds no float
(the risk engine's float screen, `streams.risk.board`, only picks the accounts this math then
recomputes exactly). Sizes and prices that arrive
(fills, oracle ticks) are used exactly as they are. Money entering collateral (deposits,
fees) and every figure the domain *computes* and then keeps, books or publishes is rounded
once, at the point it is made, to a fixed quantum:

- MONEY = 1e-9 USD, half to even: collateral movements (realised P&L, fees, funding
  payments, insurance draws, socialised losses) and the USD figures of a margin check.
  USDC settles in 1e-6; three guard digits keep hourly funding of small positions (often
  under a micro-dollar) from vanishing, while any balance up to 1e18 USD still fits the
  28 significant digits of the default decimal context. Half-to-even is symmetric
  (`to_money(-x) == -to_money(x)`), so a long and a short of equal size pay and receive
  exactly opposite amounts and funding conserves money to the last digit.
- PRICE = 1e-12 USD per base unit, half to even: computed prices (volume-weighted entry,
  TWAPs, liquidation prices) and the cumulative funding index (USD per base unit). Twelve
  decimals keep a sub-cent token's price to six significant digits and keep
  `size x price error` far below one MONEY quantum for any realistic size.
- RATE = 1e-12 per hour, half to even: funding rates (a typical 1e-5/h keeps 7 digits).
- SIZE = 1e-9 base units: sizes the domain computes (liquidation closes), rounded away
  from zero so a close always covers what it must (SOL has 9 decimals, BTC 8).
- RATIO = 1e-4: health (rounded toward −∞, so a threshold on the grid — 50, 20, 10 — is
  crossed exactly when the exact health crosses it) and leverage (half to even).
- STORED = 1e-18, half to even: the figures a market state publishes unrounded in the domain
  (mark, 5-minute TWAP, premium), to the warehouse's Decimal(38, 18), which refuses more places.

`streams.domain.fixed_margin` computes the margin figures and funding payments in integer units of
these quanta, for every holder at once, equal to these Decimals bit for bit.

Quantised values have a fixed exponent, so equal values print identically: serialised
states compare byte for byte. Products and quotients between roundings run in the caller's decimal
context (Python's default: 28 digits, half to even), as the integer kernel mirrors; rounding itself
uses `ROUNDING`. Sums and negations of amounts that are kept (collateral, positions' sizes, the
insurance fund, order books, a route) are exact (`EXACT`, `copy_negate`): in 28 digits a balance past
1e19 USD lost its last places, and an input size of 38 digits its last ten.
"""

from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, ROUND_UP, Context, Decimal

MONEY = Decimal("1e-9")
PRICE = Decimal("1e-12")
RATE = Decimal("1e-12")
SIZE = Decimal("1e-9")
RATIO = Decimal("1e-4")
STORED = Decimal("1e-18")
CONTEXT = Context(prec=40, rounding=ROUND_HALF_EVEN)
# quantising only: its result is exact whatever the precision, which need only hold it. Inputs within their bounds
# (below 1e20, 18 places) make products up to 1e40, whose money figure has 49 digits: at 40, quantize raised and took
# the risk engine down on a fill of 1e19 at 1e19
ROUNDING = Context(prec=100, rounding=ROUND_HALF_EVEN)
# exact sums and products of input values (below 1e20, 18 places: 38 digits): a product has at most 76 digits, a sum
# of 2^31 of them 48; the default context's 28 digits rounded a book level or an order's remainder
EXACT = Context(prec=100, rounding=ROUND_HALF_EVEN)
ZERO = Decimal(0)


def to_money(amount: Decimal) -> Decimal:
    """Round a USD amount to the MONEY quantum, half to even."""
    return amount.quantize(MONEY, ROUND_HALF_EVEN, ROUNDING)


ZERO_MONEY = to_money(ZERO)


def to_price(value: Decimal) -> Decimal:
    """Round a computed price or funding index to the PRICE quantum, half to even."""
    return value.quantize(PRICE, ROUND_HALF_EVEN, ROUNDING)


def to_rate(value: Decimal) -> Decimal:
    """Round a funding rate to the RATE quantum, half to even."""
    return value.quantize(RATE, ROUND_HALF_EVEN, ROUNDING)


def to_size_covering(size: Decimal) -> Decimal:
    """Round a computed size to the SIZE quantum, away from zero."""
    return size.quantize(SIZE, ROUND_UP, ROUNDING)


def to_health(value: Decimal) -> Decimal:
    """Round a health figure down to the RATIO quantum."""
    return value.quantize(RATIO, ROUND_FLOOR, ROUNDING)


def to_ratio(value: Decimal) -> Decimal:
    """Round a ratio such as leverage to the RATIO quantum, half to even."""
    return value.quantize(RATIO, ROUND_HALF_EVEN, ROUNDING)


def to_stored(value: Decimal | None) -> Decimal | None:
    """Round a published figure to the warehouse's 18 decimals, half to even; None stays None."""
    return None if value is None else value.quantize(STORED, ROUND_HALF_EVEN, ROUNDING)


def as_text(value: Decimal | None) -> str | None:
    """Return a decimal as its exact string for a stored row; None stays None."""
    return None if value is None else str(value)


def as_decimal(text: str | None) -> Decimal | None:
    """Return the decimal a stored row's string holds; None stays None."""
    return None if text is None else Decimal(text)
