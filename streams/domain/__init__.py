"""Pure domain math (no I/O): oracle guard, mark, TWAP, funding, margin, liquidation."""
