"""Agents: one per concern, thin wrappers over streams.domain."""
