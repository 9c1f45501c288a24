"""The program's Anchor IDL: types, accounts and instructions with their discriminators.

Anchor derives every 8-byte discriminator from a name: `sha256("account:" + Name)[:8]` for an
account, `sha256("global:" + snake_name)[:8]` for an instruction and `sha256("event:" + Name)[:8]`
for an event. The published IDL also carries them; loading checks that both agree.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

IDL_PATH = Path(__file__).with_name("idl") / "quantdesk_perp_dex.json"
PROGRAM_ID = "C2T3UnvGdHwEkspXJG7JyAhwo6VKQEKjN6eCq69guYSw"  # deployed (DESIGN), not the IDL's own `address`

TypeDesc = str | dict[str, Any]
"""An IDL type descriptor as it appears in the JSON: "u64", {"vec": ...}, {"defined": ...}."""


class IdlError(ValueError):
    """The IDL is malformed or contradicts itself."""


def discriminator(namespace: Literal["account", "global", "event"], name: str) -> bytes:
    """Return Anchor's 8-byte discriminator of `name` in `namespace`."""
    return hashlib.sha256(f"{namespace}:{name}".encode()).digest()[:8]


@dataclass(frozen=True)
class Field:
    """A named, typed field of a struct, an instruction's arguments or an event."""

    name: str
    type: TypeDesc


@dataclass(frozen=True)
class Seed:
    """One PDA seed: constant bytes, another account's key or an instruction argument."""

    kind: Literal["const", "account", "arg"]
    value: bytes = b""
    path: str = ""


@dataclass(frozen=True)
class AccountItem:
    """One account an instruction takes, in order, with its flags and how to find it."""

    name: str
    writable: bool
    signer: bool
    optional: bool
    address: str | None
    seeds: tuple[Seed, ...] | None


@dataclass(frozen=True)
class Instruction:
    """An instruction: its discriminator, accounts in order and arguments."""

    name: str
    discriminator: bytes
    accounts: tuple[AccountItem, ...]
    args: tuple[Field, ...]


@dataclass(frozen=True)
class Account:
    """An account type the program owns; its data is the IDL type of the same name."""

    name: str
    discriminator: bytes


@dataclass(frozen=True)
class Idl:
    """A loaded IDL with lookups by name and by discriminator."""

    address: str
    name: str
    types: Mapping[str, dict[str, Any]]
    accounts: Mapping[str, Account]
    instructions: Mapping[str, Instruction]
    errors: Mapping[int, str]

    def account_by_discriminator(self, disc: bytes) -> Account | None:
        """Return the account type with discriminator `disc`, if any."""
        return next((a for a in self.accounts.values() if a.discriminator == disc), None)

    def instruction_by_discriminator(self, disc: bytes) -> Instruction | None:
        """Return the instruction with discriminator `disc`, if any."""
        return next((i for i in self.instructions.values() if i.discriminator == disc), None)


def _checked(namespace: Literal["account", "global"], entry: Mapping[str, Any]) -> bytes:
    """Return an entry's discriminator, refusing one the IDL states differently."""
    computed = discriminator(namespace, entry["name"])
    stated = entry.get("discriminator")
    if stated is not None and bytes(stated) != computed:
        raise IdlError(
            f"{entry['name']}: IDL discriminator {bytes(stated).hex()} != computed {computed.hex()}"
        )
    return computed


def _seed(raw: Mapping[str, Any]) -> Seed:
    """Return a PDA seed from its IDL entry."""
    kind = raw["kind"]
    if kind == "const":
        return Seed("const", value=bytes(raw["value"]))
    if kind in ("account", "arg") and "." not in raw["path"]:
        return Seed(kind, path=raw["path"])
    raise IdlError(f"unsupported PDA seed {raw}")


def _account_item(raw: Mapping[str, Any]) -> AccountItem:
    """Return an instruction account from its IDL entry."""
    if "accounts" in raw:
        raise IdlError(f"composite account group {raw['name']} is not supported")
    pda = raw.get("pda")
    if pda is not None and "program" in pda:
        raise IdlError(f"{raw['name']}: PDAs of another program are not supported")
    return AccountItem(
        name=raw["name"],
        writable=bool(raw.get("writable")),
        signer=bool(raw.get("signer")),
        optional=bool(raw.get("optional")),
        address=raw.get("address"),
        seeds=tuple(_seed(s) for s in pda["seeds"]) if pda else None,
    )


def _instruction(raw: Mapping[str, Any]) -> Instruction:
    """Return an instruction from its IDL entry."""
    return Instruction(
        name=raw["name"],
        discriminator=_checked("global", raw),
        accounts=tuple(_account_item(a) for a in raw["accounts"]),
        args=tuple(Field(a["name"], a["type"]) for a in raw["args"]),
    )


def parse_idl(raw: Mapping[str, Any]) -> Idl:
    """Return the IDL described by a parsed Anchor (0.30+) IDL document."""
    types = {t["name"]: t["type"] for t in raw.get("types", [])}
    accounts = {a["name"]: Account(a["name"], _checked("account", a)) for a in raw.get("accounts", [])}
    missing = [name for name in accounts if name not in types]
    if missing:
        raise IdlError(f"accounts without a type definition: {missing}")
    return Idl(
        address=raw["address"],
        name=raw["metadata"]["name"],
        types=types,
        accounts=accounts,
        instructions={i["name"]: _instruction(i) for i in raw["instructions"]},
        errors={e["code"]: e["name"] for e in raw.get("errors", [])},
    )


def load_idl(path: Path = IDL_PATH) -> Idl:
    """Load and check the IDL stored at `path`."""
    return parse_idl(json.loads(path.read_text()))


@lru_cache(maxsize=1)
def default_idl() -> Idl:
    """Return the packaged QuantDesk Perp DEX IDL, loaded once."""
    return load_idl()
