"""The accounts agent's bookkeeping without a broker: which messages may be acked."""

from streams.agents.accounts import Acks


def test_a_message_is_acked_once_its_events_and_every_earlier_message_of_its_partition_are_applied() -> None:
    acks = Acks()
    acks.hold("ticks/0", "m0", ["a", "b"])
    acks.hold("ticks/0", "m1", [])  # nothing new in it (dropped as seen, or dead letters only)
    acks.hold("ticks/0", "m2", ["c"])
    acks.hold("fills/0", "f0", ["d"])
    acks.applied(["c", "d", "a"])
    assert list(acks.due()) == ["f0"]  # m2 is applied, but m0 still waits for b
    acks.applied(["b"])
    assert list(acks.due()) == ["m0", "m1", "m2"] and list(acks.due()) == []
