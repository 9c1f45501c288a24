"""The Faust worker: agents (thin, I/O) over the pure domain math in `streams.domain`."""
