"""A run cut at its checkpoints: what the feed's stores' tests drive (`test_markets_store`, `test_orders_store`)."""

from typing import Any, Callable, Protocol, Sequence

import orjson

from streams.risk.checkpoint import Restored


class Checkpointed(Protocol):
    """A run that applies releases and folds its checkpoints into a log."""

    log: Restored

    def release(self, chunk: list[Any]) -> Any: ...

    def checkpoint(self) -> Any: ...


def in_releases(stream: list[Any], sizes: Sequence[int]) -> list[list[Any]]:
    """Return the stream cut into releases of `sizes` events, in turn."""
    chunks, at = [], 0
    while at < len(stream):
        size = sizes[len(chunks) % len(sizes)]
        chunks.append(stream[at:at + size])
        at += size
    return chunks


def cut_run(whole: Checkpointed, chunks: list[list[Any]], every: int, spacing: int,
            held: Callable[[], Any] = lambda: None) -> tuple[list[Any], dict[int, tuple[dict, Any]]]:
    """Apply every release to `whole`, checkpointing every `every`; return what each release caused and, at every
    `spacing`-th checkpoint, the log's tables (as the broker would hold them) and what `held` says then, by the number
    of releases before it."""
    outs, cuts = [], {}
    for n, chunk in enumerate(chunks):
        outs.append(whole.release(chunk))
        if n % every == 0:
            whole.checkpoint()
            if n % (spacing * every) == 0:
                cuts[n + 1] = (orjson.loads(orjson.dumps(whole.log.tables)), held())
    return outs, cuts
