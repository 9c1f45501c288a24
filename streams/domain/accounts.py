"""A trading account: collateral, positions and funding indices, changed by pure methods.

Every method returns a new `Account`; none reads a clock or does I/O, so replaying the
same events rebuilds the same account, and `to_row` prints it identically.
"""

from collections.abc import Mapping
from dataclasses import field, replace
from decimal import Decimal
from typing import Any

from quantdesk.messages import account_key
from streams.domain import EXACT, ZERO_MONEY, to_money
from streams.domain.account_state import AccountState
from streams.domain.funding import funding_owed
from streams.domain.frozen import frozen
from streams.domain.ledger import Movement, moved
from streams.domain.margin import Exposure, Margin, Quote, assess
from streams.domain.positions import Position, apply_fill


class AccountError(ValueError):
    """An account change the domain refuses."""


class InsufficientFreeCollateral(AccountError):
    """A withdrawal larger than the account's free collateral."""


@frozen
class Account:
    """A trader's (sub)account; `funding_index` is each position's index at its last settle."""

    wallet: str
    subaccount: int = 0
    collateral: Decimal = ZERO_MONEY
    positions: dict[str, Position] = field(default_factory=dict)
    funding_index: dict[str, Decimal] = field(default_factory=dict)
    state: AccountState = AccountState.NEW

    @property
    def key(self) -> str:
        """Return the account key `wallet:subaccount`."""
        return account_key(self.wallet, self.subaccount)

    def exposures(self, quotes: Mapping[str, Quote]) -> list[Exposure]:
        """Return each position with its market's quote and unsettled funding."""
        return [self._exposure(p, quotes[m]) for m, p in sorted(self.positions.items())]

    def _exposure(self, position: Position, quote: Quote) -> Exposure:
        """Return one position's exposure under `quote`."""
        owed = funding_owed(position.size, quote.funding_index, self.funding_index[position.market])
        return Exposure(position, quote, owed)

    def margin(self, quotes: Mapping[str, Quote]) -> Margin:
        """Return the account's margin figures under `quotes` (one per open market)."""
        return assess(self.collateral, self.exposures(quotes))

    def deposit(self, amount: Decimal) -> "Account":
        """Add `amount` USD to collateral."""
        return replace(self, collateral=to_money(EXACT.add(self.collateral, amount)))

    def withdraw(self, amount: Decimal, quotes: Mapping[str, Quote]) -> "Account":
        """Take `amount` USD out, refusing more than collateral or free collateral."""
        available = min(self.collateral, self.margin(quotes).free_collateral)
        if amount > available:
            raise InsufficientFreeCollateral(
                f"{self.key}: withdrawal of {amount} USD exceeds the {available} USD available"
            )
        return replace(self, collateral=to_money(EXACT.subtract(self.collateral, amount)))

    def settle_funding(self, market: str, cum_index: Decimal) -> tuple["Account", Decimal]:
        """Settle the position in `market` up to `cum_index`; return it and the payment made."""
        position = self.positions.get(market)
        if position is None:
            return self, ZERO_MONEY
        owed = funding_owed(position.size, cum_index, self.funding_index[market])
        return self.funded(market, cum_index, owed), owed

    def funded(self, market: str, cum_index: Decimal, owed: Decimal) -> "Account":
        """Return the account with its position in `market` settled up to `cum_index` for `owed`, what
        `settle_funding` computes (a close may compute it for every holder at once)."""
        return Account(self.wallet, self.subaccount, EXACT.subtract(self.collateral, owed), self.positions,  # a
                       {**self.funding_index, market: cum_index}, self.state)  # close makes one a holder: no `replace`

    def apply_fill(
        self, market: str, size: Decimal, price: Decimal, fee: Decimal, cum_index: Decimal
    ) -> "Account":
        """Settle funding in `market`, then fill signed `size` at `price` paying `fee`."""
        return self.fill(market, size, price, fee, cum_index)[0]

    def fill(
        self, market: str, size: Decimal, price: Decimal, fee: Decimal, cum_index: Decimal, fee_kind: str = "fee"
    ) -> tuple["Account", tuple[Movement, ...]]:
        """Settle funding in `market`, then fill signed `size` at `price` paying `fee` (a `fee_kind`); return the
        account and its collateral's moves: funding paid, P&L realised, fee paid."""
        settled, owed = self.settle_funding(market, cum_index)
        result = apply_fill(settled.positions.get(market), market, size, price, fee)
        positions, indices = settled.positions.copy(), settled.funding_index.copy()
        positions.pop(market, None), indices.pop(market, None)  # the market's position, if any, goes last
        if result.position is not None:
            positions[market], indices[market] = result.position, cum_index
        lines = moved(Movement("funding", owed.copy_negate(), market),
                      Movement("realised_pnl", result.realised_pnl, market),
                      Movement(fee_kind, result.fee.copy_negate(), market))
        collateral = EXACT.add(settled.collateral, result.cash)
        return Account(self.wallet, self.subaccount, collateral, positions, indices, self.state), lines

    def write_off(self) -> tuple["Account", Decimal]:
        """Zero a negative collateral once its deficit is covered; return the deficit."""
        deficit = max(ZERO_MONEY, self.collateral.copy_negate())
        return replace(self, collateral=EXACT.add(self.collateral, deficit)), deficit

    def to_row(self) -> dict[str, Any]:
        """Return the account as plain JSON-able data (decimals as strings, markets sorted)."""
        return {
            "wallet": self.wallet,
            "subaccount": self.subaccount,
            "state": self.state.value,
            "collateral": str(self.collateral),
            "positions": {m: self._position_dict(m) for m in sorted(self.positions)},
        }

    def row_since(self, before: "Account", row: dict[str, Any]) -> dict[str, Any]:
        """Return `to_row()`, made from `row` (the `to_row` of `before`, this account earlier) when the positions are
        `before`'s own (a funding settle or a change of collateral keeps them): their texts kept but a funding index
        that is not the same object."""
        if self is before:
            return row
        if self.positions is not before.positions:
            return self.to_row()
        row = {**row, "collateral": str(self.collateral)}
        if self.state is not before.state:
            row["state"] = self.state.value
        index, was = self.funding_index, before.funding_index
        moved = [m for m in row["positions"] if index[m] is not was.get(m)]  # the markets `to_row` prints
        if moved:
            row["positions"] = positions = dict(row["positions"])
            for market in moved:
                positions[market] = {**positions[market], "funding_index": str(index[market])}
        return row

    def _position_dict(self, market: str) -> dict[str, str]:
        """Return one position as plain data."""
        p = self.positions[market]
        return {"size": str(p.size), "entry": str(p.entry), "funding_index": str(self.funding_index[market])}

    @classmethod
    def from_row(cls, data: Mapping[str, Any]) -> "Account":
        """Rebuild an account from a `to_row` row."""
        positions = data["positions"]
        return cls(
            wallet=data["wallet"],
            subaccount=data["subaccount"],
            collateral=Decimal(data["collateral"]),
            positions={m: Position(m, Decimal(p["size"]), Decimal(p["entry"])) for m, p in positions.items()},
            funding_index={m: Decimal(p["funding_index"]) for m, p in positions.items()},
            state=AccountState(data["state"]),
        )


def all_funded(accounts: list[Account], market: str, cum_index: Decimal, collateral: list[Decimal]) -> list[Account]:
    """Return each account with its position in `market` settled up to `cum_index`, holding `collateral` after it:
    what `funded` makes of each, for every holder of a close at once (their fields copied, not validated again: the
    accounts are immutable, and a close keeps their positions and state)."""
    make, put = object.__new__, object.__setattr__
    out: list[Account] = []
    append = out.append
    for account, after in zip(accounts, collateral):
        fields = account.__dict__.copy()
        index = fields["funding_index"].copy()  # copied, then set: a third quicker than a merged literal
        index[market] = cum_index
        fields["collateral"], fields["funding_index"] = after, index
        settled = make(Account)
        put(settled, "__dict__", fields)
        append(settled)
    return out

