"""Signed program transactions and their logs, as a validator would record them."""

from dataclasses import dataclass

from solders.hash import Hash
from solders.instruction import AccountMeta, Instruction
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.transaction import VersionedTransaction

from programs.builders import build_instruction
from programs.events import Event, OraclePriceUpdated, OrderFilled, event_log_line
from programs.pda import DEFAULT_PROGRAM_ID

PROGRAM = DEFAULT_PROGRAM_ID
BLOCK_TIME = 1_708_363_256
MARKET = Pubkey.from_string("BtcMarket1111111111111111111111111111111111")
ETH_MARKET = Pubkey.from_string("EthMarket1111111111111111111111111111111111")
CHAIN_MARKETS = {str(MARKET): "BTC-PERP", str(ETH_MARKET): "ETH-PERP"}


@dataclass(frozen=True)
class Recorded:
    """A signed transaction with what the ledger holds beside it."""

    tx: VersionedTransaction
    logs: list[str]
    err: object = None
    block_time: int = BLOCK_TIME

    @property
    def signature(self) -> str:
        """Return the transaction id (its first signature)."""
        return str(self.tx.signatures[0])


def signed(payer: Keypair, instructions: list[Instruction]) -> VersionedTransaction:
    """Return a v0 transaction of `instructions` signed by `payer`."""
    message = MessageV0.try_compile(payer.pubkey(), instructions, [], Hash.new_unique())
    return VersionedTransaction(message, [payer])


def logs_for(tx: VersionedTransaction, events: list[Event], failed: bool = False) -> list[str]:
    """Return the log lines of a run: each top-level program invoked, the program's events inside."""
    lines = []
    for ix in tx.message.instructions:
        program = tx.message.account_keys[ix.program_id_index]
        lines.append(f"Program {program} invoke [1]")
        if program == PROGRAM:
            lines += [event_log_line(e) for e in events]
        lines.append(f"Program {program} {'failed: custom program error: 0x1770' if failed else 'success'}")
    return lines


def open_position_ix(user: Pubkey, index: int, market: Pubkey = MARKET) -> Instruction:
    """Return a real open_position instruction (position PDA derived from the IDL's seeds)."""
    args = {"position_index": index, "side": "Long", "size": 1_500_000, "leverage": 5, "entry_price": 51_000_250_000}
    user_account = Pubkey.find_program_address([b"user_account", bytes(user)], PROGRAM)[0]
    return build_instruction("open_position", {"user": user, "user_account": user_account, "market": market}, args)


def trade(index: int, price: int = 51_000_250_000, market: Pubkey = MARKET, timestamp: int = BLOCK_TIME) -> Recorded:
    """Return a signed open_position whose run logged an OrderFilled and an OraclePriceUpdated."""
    user = Keypair()
    tx = signed(user, [open_position_ix(user.pubkey(), index, market)])
    events: list[Event] = [
        OrderFilled(user.pubkey(), Pubkey.new_unique(), market, "Long", 1_500_000, price, 25_500, timestamp),
        OraclePriceUpdated(market, price, 5_000_000, timestamp),
    ]
    return Recorded(tx, logs_for(tx, events), block_time=timestamp)


def failed_trade() -> Recorded:
    """Return a validly signed trade whose run failed with a program error."""
    user = Keypair()
    tx = signed(user, [open_position_ix(user.pubkey(), 0)])
    return Recorded(tx, logs_for(tx, [], failed=True), err={"InstructionError": [0, {"Custom": 6000}]})


def tampered_trade() -> Recorded:
    """Return a trade whose signature was made by another key (it does not verify)."""
    good = trade(0)
    forged = Keypair().sign_message(to_bytes_versioned(good.tx.message))
    return Recorded(VersionedTransaction.populate(good.tx.message, [forged]), good.logs)


def other_program_tx() -> Recorded:
    """Return a transaction that mentions the program as an account but runs another program."""
    user, other = Keypair(), Pubkey.new_unique()
    ix = Instruction(other, b"\x01", [AccountMeta(user.pubkey(), True, True), AccountMeta(PROGRAM, False, False)])
    tx = signed(user, [ix])
    return Recorded(tx, logs_for(tx, []))
