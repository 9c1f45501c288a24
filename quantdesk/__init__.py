"""The shared kernel: settings, markets, messages, wire format, Kafka and ClickHouse plumbing, the broker, the CLI root."""
