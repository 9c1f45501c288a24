"""`streams.ordered`'s shared decoding: a message decoded once for every reader of a process, within a bound."""

from typing import Any

from streams.ordered import Decoded


class Decoder:
    """A message's decoding that counts how often it ran."""

    def __init__(self, events: list[Any]) -> None:
        self.events, self.runs = events, 0

    def __call__(self) -> tuple[list[Any], list[Any]]:
        self.runs += 1
        return list(self.events), []


def test_a_message_is_decoded_once_for_every_reader_and_each_gets_a_list_of_its_own() -> None:
    shared, decode = Decoded(), Decoder([object(), object()])
    first, _ = shared.get(("trades.fills", 0), 7, decode)
    second, _ = shared.get(("trades.fills", 0), 7, decode)
    assert decode.runs == 1
    assert all(a is b for a, b in zip(first, second, strict=True))  # the same events, not copies
    first.pop()  # a reader filtering its events (late ones refused) leaves the others' whole
    assert len(second) == 2 and len(shared.get(("trades.fills", 0), 7, decode)[0]) == 2


def test_the_oldest_messages_are_let_go_once_more_events_are_kept_than_the_bound() -> None:
    shared = Decoded(most=5)
    decoders = [Decoder([offset, offset]) for offset in range(4)]
    for offset, decode in enumerate(decoders):
        shared.get(("oracle.ticks", 1), offset, decode)
    assert shared.events == 4 and [offset for _, offset in shared.kept] == [2, 3]
    shared.get(("oracle.ticks", 1), 0, decoders[0])  # a reader far behind decodes for itself
    shared.get(("oracle.ticks", 1), 3, decoders[3])
    assert [d.runs for d in decoders] == [2, 1, 1, 1]
    assert shared.get(("oracle.ticks", 2), 3, Decoder([9]))[0] == [9]  # another partition, another message
