"""A consumer group's membership kept on a thread of its own, so that a busy event loop does not lose it.

aiokafka heartbeats from a task of the consumer's event loop. A worker whose loop is held longer than the session
timeout by one piece of work (a funding close over very many holders, a long collection) misses its heartbeats, and
the group gives its partitions to another member while it is still working on them: two workers then run the same
task at once, both writing its checkpoints, and the one held applies the same long event again when it rejoins.
Here the consumer runs on its own thread and loop, where heartbeats go on while the caller's loop is busy (the
interpreter switches threads every few milliseconds). The rebalance callbacks are run on the caller's loop, which
the group then waits for.

A loop that stops for good must still lose its partitions: the thread polls only while the caller's loop shows it
runs (`pulse`), so a loop silent for `max_poll_interval_s` lets the consumer leave the group (aiokafka's own poll
timeout), and the others take its partitions.

A whole process frozen past the session timeout (SIGSTOP, a paused VM) still loses its partitions, and runs on when
thawed as if it held them, until its thread hears otherwise. So before it writes what only a partition's holder may
write, a caller asks `holds`: a commit in the group's generation, which the coordinator refuses once the group has
moved on without this member (Kafka's own fence; Tansu keeps it too).
"""

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError

POLL_S = 0.2  # how long a poll waits, and how often the caller's loop shows it runs
MAX_POLL_INTERVAL_S = 300.0  # a caller's loop silent this long leaves the group (aiokafka's default)
Callback = Callable[[list[TopicPartition]], Awaitable[None]]


class Forwarded(ConsumerRebalanceListener):
    """Rebalance callbacks of the membership's thread, run on the caller's loop; assigned partitions are paused
    (the membership only holds them: their owner reads what it needs itself)."""

    def __init__(self, membership: "Membership") -> None:
        self.membership = membership

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        """Run the caller's `revoked` on its loop and wait for it."""
        await self.membership.on_caller(self.membership.revoked, sorted(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        """Pause the partitions, then run the caller's `assigned` on its loop and wait for it."""
        consumer = self.membership.consumer
        assert consumer is not None
        consumer.pause(*assigned)
        await self.membership.on_caller(self.membership.assigned, sorted(assigned))


class Membership:
    """Membership of `group` over `topic`'s partitions, kept on a thread of its own (the module's text)."""

    def __init__(self, bootstrap: str, group: str, topic: str, revoked: Callback, assigned: Callback,
                 session_timeout_s: float, max_poll_interval_s: float = MAX_POLL_INTERVAL_S) -> None:
        """Join `group` on `topic`; `revoked` and `assigned` run on the caller's loop as partitions move."""
        self.bootstrap, self.group, self.topic = bootstrap, group, topic
        self.revoked, self.assigned = revoked, assigned
        self.session_ms = int(session_timeout_s * 1000)
        self.max_poll_interval_s = max_poll_interval_s
        self.consumer: AIOKafkaConsumer | None = None
        self.caller: asyncio.AbstractEventLoop | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the thread's
        self.pulse = time.monotonic()
        self.joined: asyncio.Future[None] | None = None  # on the caller's loop: set once started, or failed
        self.leave = threading.Event()
        self.thread: threading.Thread | None = None
        self.failure: BaseException | None = None

    async def __aenter__(self) -> "Membership":
        """Start the thread and join the group; raise what starting raised."""
        self.caller = asyncio.get_running_loop()
        self.joined = self.caller.create_future()
        self.thread = threading.Thread(target=self._run, name=f"membership-{self.group}", daemon=True)
        self.thread.start()
        await self.joined
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Leave the group and wait for the thread to end, cancelled or not (the callbacks it runs meanwhile run
        here, and it must not outlive this loop)."""
        self.leave.set()
        cancelled = False
        while self.thread is not None and self.thread.is_alive():
            self.beat()
            try:
                await asyncio.sleep(POLL_S / 4)
            except asyncio.CancelledError:
                cancelled = True
        if cancelled:
            raise asyncio.CancelledError

    def beat(self) -> None:
        """Show that the caller's loop runs."""
        self.pulse = time.monotonic()

    async def kept(self) -> None:
        """Show that the caller's loop runs, wait a poll's time, and raise what ended the membership, if anything."""
        self.beat()
        await asyncio.sleep(POLL_S)
        if self.failure is not None:
            raise self.failure
        if self.thread is not None and not self.thread.is_alive():
            raise RuntimeError(f"the membership of {self.group} ended")

    async def holds(self, partition: int) -> bool:
        """Tell whether the group's coordinator counts this member as holding `partition` now (a commit in its
        generation goes through), waiting at most a session timeout for its answer."""
        assert self.consumer is not None and self.loop is not None
        commit = self.consumer.commit({TopicPartition(self.topic, partition): 0})  # the offset says nothing
        try:
            await asyncio.wait_for(asyncio.wrap_future(asyncio.run_coroutine_threadsafe(commit, self.loop)),
                                   self.session_ms / 1000)
        except (CommitFailedError, IllegalStateError, asyncio.TimeoutError):
            return False
        return True

    async def on_caller(self, callback: Callback, partitions: list[TopicPartition]) -> None:
        """Run a callback on the caller's loop and wait for it (on the membership's thread); none once that loop has
        stopped (its tasks went with it)."""
        assert self.caller is not None
        if self.caller.is_running():
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(callback(partitions), self.caller))

    def _run(self) -> None:
        """The thread: keep the membership until told to leave; hand a failure to the caller."""
        try:
            asyncio.run(self._keep())
        except BaseException as exc:  # the caller's `kept` raises it
            self.failure = exc
            self._tell_joined(exc)

    async def _keep(self) -> None:
        """Join, poll while the caller's loop runs, leave."""
        assert self.caller is not None
        self.loop = asyncio.get_running_loop()
        consumer = self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=self.group, enable_auto_commit=False,
            session_timeout_ms=self.session_ms, heartbeat_interval_ms=max(100, self.session_ms // 3),
            max_poll_interval_ms=int(self.max_poll_interval_s * 1000))
        consumer.subscribe([self.topic], listener=Forwarded(self))
        await consumer.start()
        self._tell_joined(None)
        try:
            while not self.leave.is_set() and self.caller.is_running():  # a caller's loop stopped has left
                if time.monotonic() - self.pulse < self.max_poll_interval_s:
                    await consumer.getmany(timeout_ms=int(POLL_S * 1000))
                else:  # the caller's loop is silent: no poll, so aiokafka leaves the group
                    await asyncio.sleep(POLL_S)
        finally:
            await consumer.stop()

    def _tell_joined(self, failure: BaseException | None) -> None:
        """Let `__aenter__` go on, or raise `failure` there."""
        caller, joined = self.caller, self.joined
        assert caller is not None and joined is not None

        def tell() -> None:
            if not joined.done():
                joined.set_result(None) if failure is None else joined.set_exception(failure)
        if not caller.is_closed():
            caller.call_soon_threadsafe(tell)
