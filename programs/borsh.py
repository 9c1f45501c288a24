"""Borsh encoding and decoding driven by IDL type descriptors, and discriminator dispatch.

Values: integers as `int`, `bool`, `str`, pubkeys as `solders.pubkey.Pubkey`, `bytes` for the
`bytes` type, lists for vecs and arrays, `None` for an empty option, dicts for structs with named
fields and lists for tuple structs. An enum value is its variant name when the variant has no
fields, else a one-key dict `{variant: fields}` (a dict for named fields, a list for a tuple).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from solders.pubkey import Pubkey

from programs.idl import Field, Idl, TypeDesc, default_idl

INTEGERS: Mapping[str, tuple[int, bool]] = {
    "u8": (1, False), "u16": (2, False), "u32": (4, False), "u64": (8, False), "u128": (16, False),
    "i8": (1, True), "i16": (2, True), "i32": (4, True), "i64": (8, True), "i128": (16, True),
}  # fmt: skip


class BorshError(ValueError):
    """Bytes or a value that do not fit the type they are coded as."""


class UnknownDiscriminator(LookupError):
    """Data whose leading 8 bytes name nothing the program defines."""

    def __init__(self, what: str, disc: bytes) -> None:
        """Record which kind of data carried which unknown discriminator."""
        super().__init__(f"unknown {what} discriminator {disc.hex()}")
        self.discriminator = disc.hex()


class _Reader:
    """A cursor over bytes that refuses to read past the end."""

    def __init__(self, data: bytes, offset: int = 0) -> None:
        """Start reading `data` at `offset`."""
        self.data = data
        self.offset = offset

    def take(self, n: int) -> bytes:
        """Return the next `n` bytes and move past them."""
        end = self.offset + n
        if end > len(self.data):
            raise BorshError(f"need {n} bytes at offset {self.offset}, have {len(self.data) - self.offset}")
        chunk = self.data[self.offset : end]
        self.offset = end
        return chunk


class Codec:
    """Borsh coder for the types a set of IDL type definitions describes."""

    def __init__(self, types: Mapping[str, Mapping[str, Any]]) -> None:
        """Use `types` (name -> IDL type definition) to resolve `defined` types."""
        self.types = types

    def encode(self, desc: TypeDesc, value: Any) -> bytes:
        """Return the Borsh bytes of `value` as type `desc`."""
        return self._guarded(lambda out: self._write(desc, value, out))

    @staticmethod
    def _guarded(write: Callable[[bytearray], None]) -> bytes:
        """Run `write` into a fresh buffer, reporting a value of the wrong shape as BorshError."""
        out = bytearray()
        try:
            write(out)
        except (TypeError, AttributeError) as exc:
            raise BorshError(f"value does not fit its type: {exc}") from None
        return bytes(out)

    def decode(self, desc: TypeDesc, data: bytes) -> Any:
        """Return the value of type `desc` that is exactly `data`."""
        value, end = self.decode_prefix(desc, data)
        if end != len(data):
            raise BorshError(f"{len(data) - end} trailing bytes after {desc}")
        return value

    def decode_prefix(self, desc: TypeDesc, data: bytes, offset: int = 0) -> tuple[Any, int]:
        """Return the value of type `desc` at `offset` of `data` and the offset after it."""
        reader = _Reader(data, offset)
        return self._read(desc, reader), reader.offset

    def encode_fields(self, fields: tuple[Field, ...], values: Mapping[str, Any]) -> bytes:
        """Return the Borsh bytes of named `fields` taken from `values`."""
        named = [{"name": f.name, "type": f.type} for f in fields]
        return self._guarded(lambda out: self._write_fields(named, values, out))

    def decode_fields(self, fields: tuple[Field, ...], data: bytes, offset: int = 0) -> tuple[dict[str, Any], int]:
        """Return named `fields` read at `offset` of `data` and the offset after them."""
        reader = _Reader(data, offset)
        values = self._read_fields([{"name": f.name, "type": f.type} for f in fields], reader)
        return values, reader.offset

    def definition(self, desc: Mapping[str, Any]) -> Mapping[str, Any]:
        """Return the type definition a `defined` descriptor names."""
        ref = desc["defined"]
        name = ref if isinstance(ref, str) else ref["name"]
        try:
            return self.types[name]
        except KeyError:
            raise BorshError(f"undefined type {name}") from None

    def _write(self, desc: TypeDesc, value: Any, out: bytearray) -> None:
        """Append `value` coded as `desc` to `out`."""
        if isinstance(desc, str):
            out += _primitive(desc, value)
        elif "vec" in desc:
            out += _int("u32", len(value))
            for item in value:
                self._write(desc["vec"], item, out)
        elif "option" in desc:
            out.append(0 if value is None else 1)
            if value is not None:
                self._write(desc["option"], value, out)
        elif "array" in desc:
            item_desc, length = desc["array"]
            if len(value) != length:
                raise BorshError(f"array of {length} given {len(value)} items")
            for item in value:
                self._write(item_desc, item, out)
        elif "defined" in desc:
            self._write_defined(self.definition(desc), value, out)
        else:
            raise BorshError(f"unsupported type {desc}")

    def _read(self, desc: TypeDesc, reader: _Reader) -> Any:
        """Return the next value of type `desc`."""
        if isinstance(desc, str):
            return _read_primitive(desc, reader)
        if "vec" in desc:
            count = int.from_bytes(reader.take(4), "little")
            return [self._read(desc["vec"], reader) for _ in range(count)]
        if "option" in desc:
            tag = reader.take(1)[0]
            if tag > 1:
                raise BorshError(f"option tag {tag}")
            return self._read(desc["option"], reader) if tag else None
        if "array" in desc:
            item_desc, length = desc["array"]
            return [self._read(item_desc, reader) for _ in range(length)]
        if "defined" in desc:
            return self._read_defined(self.definition(desc), reader)
        raise BorshError(f"unsupported type {desc}")

    def _write_defined(self, definition: Mapping[str, Any], value: Any, out: bytearray) -> None:
        """Append a struct or enum value to `out`."""
        if definition["kind"] == "struct":
            self._write_fields(definition.get("fields", []), value, out)
            return
        names = [v["name"] for v in definition["variants"]]
        if not isinstance(value, str) and len(value) != 1:
            raise BorshError(f"enum value {value!r} is not a variant name or a one-key dict")
        name, fields_value = (value, None) if isinstance(value, str) else next(iter(value.items()))
        if name not in names:
            raise BorshError(f"unknown enum variant {name!r}")
        index = names.index(name)
        out.append(index)
        fields = definition["variants"][index].get("fields", [])
        if fields:
            self._write_fields(fields, fields_value, out)
        elif fields_value is not None:
            raise BorshError(f"variant {name} has no fields")

    def _read_defined(self, definition: Mapping[str, Any], reader: _Reader) -> Any:
        """Return the next struct or enum value."""
        if definition["kind"] == "struct":
            return self._read_fields(definition.get("fields", []), reader)
        variants = definition["variants"]
        index = reader.take(1)[0]
        if index >= len(variants):
            raise BorshError(f"enum variant index {index} of {len(variants)}")
        variant = variants[index]
        fields = variant.get("fields", [])
        return {variant["name"]: self._read_fields(fields, reader)} if fields else variant["name"]

    def _write_fields(self, fields: list[Any], value: Any, out: bytearray) -> None:
        """Append named (dict) or tuple (list) field values to `out`."""
        if _named(fields):
            if not isinstance(value, Mapping) or set(value) != {f["name"] for f in fields}:
                raise BorshError(f"fields {value!r} do not match {[f['name'] for f in fields]}")
            for f in fields:
                self._write(f["type"], value[f["name"]], out)
            return
        if len(value) != len(fields):
            raise BorshError(f"tuple of {len(fields)} given {len(value)} items")
        for desc, item in zip(fields, value, strict=True):
            self._write(desc, item, out)

    def _read_fields(self, fields: list[Any], reader: _Reader) -> dict[str, Any] | list[Any]:
        """Return named fields as a dict or tuple fields as a list."""
        if _named(fields):
            return {f["name"]: self._read(f["type"], reader) for f in fields}
        return [self._read(desc, reader) for desc in fields]


def _named(fields: list[Any]) -> bool:
    """Return whether `fields` are named (an empty list counts as named)."""
    return not fields or (isinstance(fields[0], dict) and "name" in fields[0])


def _int(kind: str, value: int) -> bytes:
    """Return `value` as a little-endian integer of `kind`."""
    size, signed = INTEGERS[kind]
    if isinstance(value, bool) or not isinstance(value, int):
        raise BorshError(f"{kind} needs an int, got {value!r}")
    try:
        return value.to_bytes(size, "little", signed=signed)
    except OverflowError:
        raise BorshError(f"{value} does not fit {kind}") from None


def _primitive(kind: str, value: Any) -> bytes:
    """Return the bytes of a primitive value."""
    if kind in INTEGERS:
        return _int(kind, value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise BorshError(f"bool needs a bool, got {value!r}")
        return b"\x01" if value else b"\x00"
    if kind == "string" and isinstance(value, str):
        raw = value.encode()
        return _int("u32", len(raw)) + raw
    if kind == "bytes" and isinstance(value, bytes):
        return _int("u32", len(value)) + value
    if kind == "pubkey" and isinstance(value, Pubkey):
        return bytes(value)
    raise BorshError(f"{value!r} is not a {kind}")


def _read_primitive(kind: str, reader: _Reader) -> Any:
    """Return the next primitive value."""
    if kind in INTEGERS:
        size, signed = INTEGERS[kind]
        return int.from_bytes(reader.take(size), "little", signed=signed)
    if kind == "bool":
        byte = reader.take(1)[0]
        if byte > 1:
            raise BorshError(f"bool byte {byte}")
        return byte == 1
    if kind == "string":
        raw = reader.take(int.from_bytes(reader.take(4), "little"))
        try:
            return raw.decode()
        except UnicodeDecodeError as exc:
            raise BorshError(f"string is not UTF-8: {exc}") from None
    if kind == "bytes":
        return reader.take(int.from_bytes(reader.take(4), "little"))
    if kind == "pubkey":
        return Pubkey.from_bytes(reader.take(32))
    raise BorshError(f"unsupported type {kind}")


@dataclass(frozen=True)
class DecodedAccount:
    """Account data decoded: the account type's name and its fields."""

    name: str
    value: dict[str, Any]


@dataclass(frozen=True)
class DecodedInstruction:
    """Instruction data decoded: the instruction's name and its arguments."""

    name: str
    args: dict[str, Any]


def idl_codec(idl: Idl) -> Codec:
    """Return a codec for the types `idl` defines."""
    return Codec(idl.types)


def encode_account(name: str, value: Mapping[str, Any], idl: Idl | None = None) -> bytes:
    """Return account data: the discriminator of account type `name`, then `value`."""
    idl = idl or default_idl()
    account = idl.accounts[name]
    return account.discriminator + idl_codec(idl).encode({"defined": {"name": name}}, value)


def decode_account(data: bytes, idl: Idl | None = None) -> DecodedAccount:
    """Decode account data by its discriminator; bytes past the fields (padding) are ignored."""
    idl = idl or default_idl()
    account = idl.account_by_discriminator(data[:8])
    if account is None:
        raise UnknownDiscriminator("account", data[:8])
    value, _ = idl_codec(idl).decode_prefix({"defined": {"name": account.name}}, data, 8)
    return DecodedAccount(account.name, value)


def encode_instruction(name: str, args: Mapping[str, Any], idl: Idl | None = None) -> bytes:
    """Return instruction data: the discriminator of instruction `name`, then `args`."""
    idl = idl or default_idl()
    instruction = idl.instructions[name]
    return instruction.discriminator + idl_codec(idl).encode_fields(instruction.args, args)


def decode_instruction(data: bytes, idl: Idl | None = None) -> DecodedInstruction:
    """Decode instruction data by its discriminator; trailing bytes are ignored, as Anchor does."""
    idl = idl or default_idl()
    instruction = idl.instruction_by_discriminator(data[:8])
    if instruction is None:
        raise UnknownDiscriminator("instruction", data[:8])
    args, _ = idl_codec(idl).decode_fields(instruction.args, data, 8)
    return DecodedInstruction(instruction.name, args)
