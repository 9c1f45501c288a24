"""Room logs: the deltas after a client's `since_seq` exactly, or None; numbers of a dropped log never come back;
logs of empty rooms swept so they stay bounded."""

from hypothesis import given
from hypothesis import strategies as st

from api.resync import SWEEP_AT_LEAST, RoomLog, RoomLogs


@given(size=st.integers(0, 20), pushed=st.integers(0, 60), start=st.integers(0, 1000), since=st.integers(0, 1100))
def test_a_log_gives_exactly_the_deltas_after_since_while_it_holds_them_all(size: int, pushed: int, start: int,
                                                                           since: int) -> None:
    log: RoomLog[str] = RoomLog(start, size)
    made = [log.add(lambda seq: f"delta {seq}") for _ in range(pushed)]
    assert made == [f"delta {seq}" for seq in range(start + 1, start + pushed + 1)] and log.seq == start + pushed
    held_from = start + pushed - min(size, pushed)  # the oldest seq a client may hold and still catch up
    if held_from <= since <= log.seq:
        assert log.since(since) == [f"delta {seq}" for seq in range(since + 1, log.seq + 1)]
    else:
        assert log.since(since) is None


OPS = st.lists(st.tuples(st.sampled_from(("push", "drop", "ask")), st.sampled_from("ab")), max_size=60)


@given(ops=OPS, size=st.integers(1, 8))
def test_a_client_never_catches_up_by_deltas_across_a_dropped_log(ops: list[tuple[str, str]], size: int) -> None:
    logs: RoomLogs[tuple[int, int]] = RoomLogs(size, lambda name: True)
    generation = {"a": 0, "b": 0}  # which log of the room is open now
    handed: list[tuple[str, int, int]] = []  # (room, generation, seq) every number a client was given
    for op, room in ops:
        if op == "drop":
            logs.drop(room)
            generation[room] += 1
            continue
        log = logs.open(room)
        if op == "push":
            log.add(lambda seq: (generation[room], seq))
        handed.append((room, generation[room], log.seq))
        for asked_room, gen, seq in handed:
            if asked_room != room:
                continue
            missed = log.since(seq)
            if gen != generation[room]:
                assert missed is None  # an older log's number: a snapshot, never another log's deltas
            elif log.seq - seq <= size:
                assert missed == [(gen, n) for n in range(seq + 1, log.seq + 1)]
            else:
                assert missed is None


def test_logs_of_empty_rooms_are_swept_once_the_logs_have_doubled() -> None:
    listened = {f"live {n}" for n in range(10)}
    logs: RoomLogs[str] = RoomLogs(5, listened.__contains__)
    for name in listened:
        logs.open(name).add(lambda seq: "delta")
    for n in range(1000):
        logs.open(f"left {n}")  # a room whose members all left without a push to tell
        assert len(logs.logs) <= SWEEP_AT_LEAST + 1
    assert listened <= set(logs.logs)
    assert logs.open("new").seq > 0  # above every number a swept log reached
