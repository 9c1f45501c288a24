"""Other venues' prices onto `venues.prices`: an adapter per venue (`adapter.py` says what one is), run by
`runner.py` inside the ingest service; `hyperliquid.py` reads Hyperliquid's public `allMids` feed."""
