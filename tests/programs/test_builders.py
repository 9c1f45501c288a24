"""Transaction builders: IDL account order, derived PDAs, compute budget, ALTs, real signing."""

import base64

import pytest
from solders.address_lookup_table_account import AddressLookupTableAccount
from solders.compute_budget import ID as COMPUTE_BUDGET
from solders.hash import Hash
from solders.keypair import Keypair
from solders.message import MessageV0, to_bytes_versioned
from solders.pubkey import Pubkey
from solders.signature import Signature
from solders.system_program import ID as SYSTEM_PROGRAM
from solders.sysvar import RENT
from solders.transaction import VersionedTransaction

from programs.borsh import decode_instruction
from programs.builders import (
    TxOptions,
    build_instruction,
    close_position_tx,
    deposit_native_sol_tx,
    open_position_tx,
)
from programs.pda import DEFAULT_PROGRAM_ID, collateral_address, position_address, protocol_vault_address

BLOCKHASH = Hash.new_unique()
OPTIONS = TxOptions(BLOCKHASH, compute_unit_limit=300_000, compute_unit_price_micro_lamports=25_000)
USER = Keypair()
USER_ACCOUNT, MARKET, FEED = (Pubkey.new_unique() for _ in range(3))


def unpack(b64: str) -> VersionedTransaction:
    """Return the transaction a builder serialised."""
    return VersionedTransaction.from_bytes(base64.b64decode(b64))


def program_ix_accounts(tx: VersionedTransaction, index: int = 2) -> list[Pubkey]:
    """Return the account keys of the transaction's instruction `index`."""
    message = tx.message
    return [message.account_keys[i] for i in message.instructions[index].accounts]


def open_tx(options: TxOptions = OPTIONS) -> VersionedTransaction:
    """Return a built open_position transaction."""
    return unpack(
        open_position_tx(
            USER.pubkey(), USER_ACCOUNT, MARKET,
            position_index=4, side="Long", size=1_500_000, leverage=10, entry_price=51_000_000_000,
            options=options,
        )
    )  # fmt: skip


def test_open_position_is_unsigned_v0_with_compute_budget_first() -> None:
    tx = open_tx()
    message = tx.message
    assert isinstance(message, MessageV0)
    assert tx.signatures == [Signature.default()]
    assert message.account_keys[0] == USER.pubkey()
    assert message.recent_blockhash == BLOCKHASH
    limit, price, program = message.instructions
    keys = message.account_keys
    assert keys[limit.program_id_index] == keys[price.program_id_index] == COMPUTE_BUDGET
    assert limit.data == bytes([2]) + (300_000).to_bytes(4, "little")
    assert price.data == bytes([3]) + (25_000).to_bytes(8, "little")
    assert keys[program.program_id_index] == DEFAULT_PROGRAM_ID
    decoded = decode_instruction(program.data)
    assert decoded.name == "open_position"
    assert decoded.args == {
        "position_index": 4, "side": "Long", "size": 1_500_000, "leverage": 10, "entry_price": 51_000_000_000,
    }  # fmt: skip
    assert program_ix_accounts(tx) == [
        position_address(USER_ACCOUNT, 4), USER_ACCOUNT, MARKET, USER.pubkey(), SYSTEM_PROGRAM,
    ]  # fmt: skip


def test_signing_the_built_transaction_verifies() -> None:
    tx = open_tx()
    signed = VersionedTransaction.populate(tx.message, [USER.sign_message(to_bytes_versioned(tx.message))])
    assert signed.verify_with_results() == [True]
    assert signed.signatures[0].verify(USER.pubkey(), to_bytes_versioned(signed.message))
    assert signed == VersionedTransaction(tx.message, [USER])
    assert not Signature.default().verify(USER.pubkey(), to_bytes_versioned(tx.message))


def test_deposit_derives_vault_and_collateral() -> None:
    tx = unpack(deposit_native_sol_tx(USER.pubkey(), USER_ACCOUNT, FEED, lamports=2_500_000_000, options=OPTIONS))
    assert decode_instruction(tx.message.instructions[2].data).args == {"amount": 2_500_000_000}
    assert program_ix_accounts(tx) == [
        USER_ACCOUNT, USER.pubkey(), protocol_vault_address(), collateral_address(USER.pubkey()),
        FEED, SYSTEM_PROGRAM, RENT,
    ]  # fmt: skip
    header = tx.message.header
    assert header.num_required_signatures == 1 and header.num_readonly_signed_accounts == 0


def test_close_position_and_writability() -> None:
    position = position_address(USER_ACCOUNT, 4)
    tx = unpack(close_position_tx(USER.pubkey(), position, MARKET, options=OPTIONS))
    message = tx.message
    assert program_ix_accounts(tx) == [MARKET, position, USER.pubkey()]
    assert all(message.is_maybe_writable(message.account_keys.index(k)) for k in (MARKET, position, USER.pubkey()))
    assert not message.is_maybe_writable(message.account_keys.index(DEFAULT_PROGRAM_ID))


def test_lookup_tables_move_accounts_out_of_the_static_keys() -> None:
    table = AddressLookupTableAccount(Pubkey.new_unique(), [MARKET, USER_ACCOUNT, SYSTEM_PROGRAM])
    with_alt = open_tx(TxOptions(BLOCKHASH, 300_000, 25_000, lookup_tables=[table]))
    lookups = with_alt.message.address_table_lookups
    assert [lookup.account_key for lookup in lookups] == [table.key]
    assert MARKET not in with_alt.message.account_keys and USER_ACCOUNT not in with_alt.message.account_keys
    assert len(with_alt.message.account_keys) < len(open_tx().message.account_keys)


def test_program_id_option() -> None:
    other = Pubkey.new_unique()
    tx = open_tx(TxOptions(BLOCKHASH, 1, 0, program_id=other))
    keys = tx.message.account_keys
    assert keys[tx.message.instructions[2].program_id_index] == other
    assert program_ix_accounts(tx)[0] == position_address(USER_ACCOUNT, 4, other)


def test_absent_optional_account_is_the_program_id_and_missing_required_is_refused() -> None:
    names = ("security_circuit_breaker", "keeper_security_manager", "oracle_staleness_protection", "pyth_price_feed")
    accounts = {n: Pubkey.new_unique() for n in names}
    args = {"current_price": 1, "current_volume": 2, "system_load": 3}
    ix = build_instruction("check_security_before_trading", accounts, args)
    assert ix.accounts[-1].pubkey == DEFAULT_PROGRAM_ID
    with pytest.raises(KeyError, match="market"):
        build_instruction("close_position", {"user": USER.pubkey(), "position": Pubkey.new_unique()}, {})


def test_a_given_pda_that_contradicts_the_seeds_is_refused() -> None:
    accounts = {"user": USER.pubkey(), "user_account": USER_ACCOUNT, "market": MARKET, "position": Pubkey.new_unique()}
    args = {"position_index": 0, "side": "Short", "size": 1, "leverage": 1, "entry_price": 1}
    with pytest.raises(ValueError, match="seeds give"):
        build_instruction("open_position", accounts, args)
