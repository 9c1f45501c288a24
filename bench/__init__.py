"""`quantdesk bench`: throughput, latency and growth of the platform, each beside a same-run baseline."""
