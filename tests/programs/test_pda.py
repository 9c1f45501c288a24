"""PDAs follow the IDL's seeds, checked against an independent derivation."""

import hashlib

import pytest
from solders.keypair import Keypair
from solders.pubkey import Pubkey

from programs.pda import (
    DEFAULT_PROGRAM_ID,
    SeedError,
    collateral_address,
    derive,
    derive_all,
    keeper_security_manager_address,
    position_address,
    protocol_vault_address,
)

PDA_MARKER = b"ProgramDerivedAddress"


def independent_pda(seeds: list[bytes], program_id: Pubkey) -> Pubkey:
    """Derive a PDA by Solana's rule from first principles: highest bump whose hash is off-curve."""
    for bump in range(255, -1, -1):
        digest = hashlib.sha256(b"".join(seeds) + bytes([bump]) + bytes(program_id) + PDA_MARKER).digest()
        candidate = Pubkey.from_bytes(digest)
        if not candidate.is_on_curve():
            return candidate
    raise AssertionError("no bump")


def test_position_seeds_are_position_user_account_and_u16_index() -> None:
    user_account = Keypair().pubkey()
    expected = independent_pda([b"position", bytes(user_account), (258).to_bytes(2, "little")], DEFAULT_PROGRAM_ID)
    assert position_address(user_account, 258) == expected
    assert position_address(user_account, 1) != expected


def test_constant_and_account_seeds() -> None:
    user = Keypair().pubkey()
    assert collateral_address(user) == independent_pda([b"collateral", bytes(user), b"SOL"], DEFAULT_PROGRAM_ID)
    assert protocol_vault_address() == independent_pda([b"protocol_sol_vault"], DEFAULT_PROGRAM_ID)
    assert keeper_security_manager_address() == independent_pda([b"keeper_security_manager"], DEFAULT_PROGRAM_ID)


def test_default_program_is_the_design_s() -> None:
    assert str(DEFAULT_PROGRAM_ID) == "C2T3UnvGdHwEkspXJG7JyAhwo6VKQEKjN6eCq69guYSw"


def test_program_id_is_an_argument() -> None:
    other = Pubkey.from_string("5yQ3PK9ZZpLesh4dyQ5pApdkz2wzv4tkqi4RwYFmaZnB")
    assert protocol_vault_address(other) == independent_pda([b"protocol_sol_vault"], other)
    assert protocol_vault_address(other) != protocol_vault_address()


def test_derive_returns_the_canonical_bump() -> None:
    address, bump = derive("deposit_native_sol", "protocol_vault")
    assert Pubkey.create_program_address([b"protocol_sol_vault", bytes([bump])], DEFAULT_PROGRAM_ID) == address


def test_derive_all_covers_every_seeded_account() -> None:
    user = Keypair().pubkey()
    assert set(derive_all("deposit_native_sol", {"user": user}, {})) == {"protocol_vault", "collateral_account"}
    assert set(derive_all("open_position", {"user_account": user}, {"position_index": 0})) == {"position"}
    assert derive_all("close_position", {}, {}) == {}


def test_missing_inputs_and_unseeded_accounts_are_refused() -> None:
    with pytest.raises(SeedError, match="user_account"):
        derive("open_position", "position", {}, {"position_index": 0})
    with pytest.raises(SeedError, match="position_index"):
        derive("open_position", "position", {"user_account": Keypair().pubkey()}, {})
    with pytest.raises(SeedError, match="no seeds"):
        derive("close_position", "position")
