"""The risk engine and what keeps it: reorder buffer, markets, risk board, liquidator, outputs, store, checkpoints."""
