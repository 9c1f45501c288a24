"""QuantDesk data platform: shared settings, message models and the CLI."""
