"""The QuantDesk Perp DEX on-chain interface: IDL, codecs, PDAs, verification, builders."""
