"""The risk engine: reorder buffer, market risk, the board and its compiled re-mark, outputs, state store."""
