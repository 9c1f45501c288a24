"""Agents: one per concern, each a thin loop over ordered input (or the stored topics) and the math below it."""
