"""Other venues' prices onto `venues.prices` and their books onto `books`: an adapter per venue (`adapter.py` says
what one is), run by `runner.py` inside the ingest service; `hyperliquid.py` reads Hyperliquid's public `allMids`
and `l2Book` feeds."""
