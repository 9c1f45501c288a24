"""The QuantDesk Perp DEX on-chain interface: IDL, codecs, PDAs, verification, builders."""

# What reading JSON or bytes of the wrong shape raises: a list where an object was, a float or an integer past any
# machine integer, a missing key. A reader refuses these as not the data it expects, whatever a node or feed sends.
MALFORMED = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)
