"""The ingest service: the program's verified transactions and Pyth prices onto the input topics.

`chain` reads the QuantDesk program over Solana JSON-RPC and websockets (backfill from a durable
cursor, then live), `oracle` reads Pyth (Hermes streaming and on-chain price accounts), `delivery`
publishes so a crash neither loses nor repeats an event, `service` runs the sources with `/health`
and `/metrics` on the ingest port.
"""
