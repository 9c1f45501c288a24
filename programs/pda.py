"""Program-derived addresses for every account whose seeds the IDL describes.

Seeds come from the IDL: constant bytes, another account's key, or an instruction argument coded
in Borsh as its IDL type (so `position_index: u16` is two little-endian bytes). The program id is
always an argument: the published IDL's `address` is not the deployed program DESIGN names.
"""

from collections.abc import Mapping
from typing import Any

from solders.pubkey import Pubkey

from programs.borsh import idl_codec
from programs.idl import PROGRAM_ID, Idl, Instruction, Seed, default_idl

DEFAULT_PROGRAM_ID = Pubkey.from_string(PROGRAM_ID)


class SeedError(LookupError):
    """A seed needs an account or argument that was not given."""


def _seed_bytes(
    seed: Seed, instruction: Instruction, accounts: Mapping[str, Pubkey], args: Mapping[str, Any], idl: Idl
) -> bytes:
    """Return the bytes one seed contributes."""
    if seed.kind == "const":
        return seed.value
    if seed.kind == "account":
        if seed.path not in accounts:
            raise SeedError(f"{instruction.name}: seed needs account {seed.path}")
        return bytes(accounts[seed.path])
    arg = next((a for a in instruction.args if a.name == seed.path), None)
    if arg is None or seed.path not in args:
        raise SeedError(f"{instruction.name}: seed needs argument {seed.path}")
    return idl_codec(idl).encode(arg.type, args[seed.path])


def derive(
    instruction_name: str,
    account_name: str,
    accounts: Mapping[str, Pubkey] | None = None,
    args: Mapping[str, Any] | None = None,
    *,
    program_id: Pubkey = DEFAULT_PROGRAM_ID,
    idl: Idl | None = None,
) -> tuple[Pubkey, int]:
    """Return the address and bump of an instruction account the IDL gives seeds for."""
    idl = idl or default_idl()
    instruction = idl.instructions[instruction_name]
    item = next(a for a in instruction.accounts if a.name == account_name)
    if item.seeds is None:
        raise SeedError(f"{instruction_name}.{account_name} has no seeds in the IDL")
    seeds = [_seed_bytes(s, instruction, accounts or {}, args or {}, idl) for s in item.seeds]
    return Pubkey.find_program_address(seeds, program_id)


def derive_all(
    instruction_name: str,
    accounts: Mapping[str, Pubkey],
    args: Mapping[str, Any],
    *,
    program_id: Pubkey = DEFAULT_PROGRAM_ID,
    idl: Idl | None = None,
) -> dict[str, Pubkey]:
    """Return every PDA of an instruction, each seeded from `accounts` and `args`."""
    idl = idl or default_idl()
    return {
        item.name: derive(instruction_name, item.name, accounts, args, program_id=program_id, idl=idl)[0]
        for item in idl.instructions[instruction_name].accounts
        if item.seeds is not None
    }


def position_address(user_account: Pubkey, position_index: int, program_id: Pubkey = DEFAULT_PROGRAM_ID) -> Pubkey:
    """Return the Position PDA: "position" + user_account + position_index (u16 LE)."""
    accounts = {"user_account": user_account}
    return derive("open_position", "position", accounts, {"position_index": position_index}, program_id=program_id)[0]


def collateral_address(user: Pubkey, program_id: Pubkey = DEFAULT_PROGRAM_ID) -> Pubkey:
    """Return the SOL CollateralAccount PDA: "collateral" + user + "SOL"."""
    return derive("deposit_native_sol", "collateral_account", {"user": user}, program_id=program_id)[0]


def protocol_vault_address(program_id: Pubkey = DEFAULT_PROGRAM_ID) -> Pubkey:
    """Return the protocol SOL vault PDA: "protocol_sol_vault"."""
    return derive("deposit_native_sol", "protocol_vault", program_id=program_id)[0]


def keeper_security_manager_address(program_id: Pubkey = DEFAULT_PROGRAM_ID) -> Pubkey:
    """Return the KeeperSecurityManager PDA: "keeper_security_manager"."""
    return derive("initialize_keeper_security_manager", "keeper_security_manager", program_id=program_id)[0]
