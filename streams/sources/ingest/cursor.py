"""The durable cursor of the chain source: where backfill resumes, what was taken, what was in flight.

One SQLite file under the data dir. `cursor` is the newest signature up to which every program
transaction was published; `seen` holds the signatures taken since (live ones run ahead of the
cursor); `pending` holds the topic end offsets recorded just before a publish, so a restart can
read back what a crash left published but not yet recorded.
"""

import sqlite3
from pathlib import Path

import orjson

Offsets = dict[str, dict[int, int]]  # broker topic -> partition -> end offset

SCHEMA = """
create table if not exists cursor (program text primary key, signature text not null, slot integer not null);
create table if not exists seen (signature text primary key, slot integer not null);
create table if not exists pending (one integer primary key check (one = 1), offsets blob not null);
"""


class CursorStore:
    """The chain source's cursor, taken signatures and in-flight publish, in one SQLite file."""

    def __init__(self, path: Path, program: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.program = program
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("pragma journal_mode=wal")
        self.db.execute("pragma synchronous=full")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the file."""
        self.db.close()

    def cursor(self) -> tuple[str, int] | None:
        """Return the newest signature (and its slot) up to which everything was published."""
        row = self.db.execute("select signature, slot from cursor where program = ?", (self.program,)).fetchone()
        return (row[0], row[1]) if row else None

    def seen(self, signature: str) -> bool:
        """Return whether a signature was already taken."""
        return self.db.execute("select 1 from seen where signature = ?", (signature,)).fetchone() is not None

    def pending(self) -> Offsets | None:
        """Return the end offsets recorded before a publish that was never recorded as done."""
        row = self.db.execute("select offsets from pending").fetchone()
        if row is None:
            return None
        return {topic: {int(p): o for p, o in parts.items()} for topic, parts in orjson.loads(row[0]).items()}

    def begin(self, offsets: Offsets) -> None:
        """Record the topics' end offsets before publishing."""
        raw = orjson.dumps({topic: {str(p): o for p, o in parts.items()} for topic, parts in offsets.items()})
        self.db.execute("insert or replace into pending (one, offsets) values (1, ?)", (raw,))

    def commit(self, taken: list[tuple[str, int]], cursor: tuple[str, int] | None) -> None:
        """Record signatures as taken and move the cursor, atomically, once their events are published."""
        with self.db:
            self.db.execute("begin immediate")
            self.db.executemany("insert or ignore into seen (signature, slot) values (?, ?)", taken)
            if cursor is not None:
                self.db.execute(
                    "insert or replace into cursor (program, signature, slot) values (?, ?, ?)", (self.program, *cursor)
                )
                self.db.execute("delete from seen where slot < ?", (cursor[1],))
            self.db.execute("delete from pending")
