"""Short SQLite reads on the event loop's own connection, each under a time budget.

aiosqlite runs every statement on a connection's thread: the statement goes there
through a queue, its answer comes back through the event loop's wake-up pipe, and
the two threads trade the interpreter's lock. For a statement of a few tens of
microseconds (one place and its partners) that trip cost more CPU than the
statement: about 40 µs of a request's 0.4-0.5 ms, measured on this project's
machine type with the server on one core. A statement known to be short runs here
instead, on a plain sqlite3 connection in the event loop's thread.

A statement may take longer than its callers believe. SQLite calls a progress
handler every few thousand steps of its virtual machine; past the budget it
interrupts the statement, which then runs on the reader threads as before, and the
caller stops sending it here. So the event loop never waits for a statement more
than about the budget, whatever a document makes the database do.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any

# A millisecond: the event loop waits no longer for an inline statement than it would
# for a reader thread's turn at the interpreter's switch interval.
INLINE_BUDGET_S = 0.001
# SQLite virtual-machine steps between two looks at the clock: a few microseconds of
# statement each, so the look costs little and the budget is kept closely.
_STEPS_PER_LOOK = 2_000


class NotInline(Exception):
    """The statement did not run here: the reader threads run it. `over_budget`: it ran
    past the budget (the caller stops sending it here), else it met a lock."""

    def __init__(self, over_budget: bool) -> None:
        super().__init__("over budget" if over_budget else "locked")
        self.over_budget = over_budget


class InlineReader:
    """One autocommit sqlite3 connection, opened in the event loop's thread on first use
    (sqlite3 refuses its use from any other), configured as the pool's readers are."""

    def __init__(self, path: str, configure: Callable[[sqlite3.Connection], None],
                 budget_s: float = INLINE_BUDGET_S,
                 steps_per_look: int = _STEPS_PER_LOOK) -> None:
        self.path = path
        self.configure = configure
        self.budget_s = budget_s
        self.steps_per_look = steps_per_look
        self._connection: sqlite3.Connection | None = None
        self._deadline = 0.0
        # Statements run here, and those interrupted past the budget.
        self.statements = 0
        self.interrupted = 0

    def fetch(self, sql: str, params: Any) -> Sequence[Any]:
        """The statement's one row; NotInline when it ran past the budget (interrupted)
        or met a lock, for the caller to run it on the reader threads instead."""
        connection = self._connection
        if connection is None:
            connection = self._connection = self._open()
        self._deadline = time.perf_counter() + self.budget_s
        self.statements += 1
        try:
            # Read to the end: the statement is reset and its read transaction ends,
            # so no snapshot is held back and the next statement sees every commit.
            (row,) = connection.execute(sql, params).fetchall()
        except sqlite3.OperationalError as error:
            message = str(error)
            if "interrupted" in message:
                self.interrupted += 1
                raise NotInline(over_budget=True) from None
            if "locked" in message or "busy" in message:
                raise NotInline(over_budget=False) from None
            raise
        return tuple(row)

    def _open(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, isolation_level=None)
        self.configure(connection)
        # A lock is not waited for here (the event loop would wait): the reader threads
        # wait for it instead.
        connection.execute("PRAGMA busy_timeout=0")
        connection.execute("PRAGMA query_only=ON")
        connection.set_progress_handler(self._over_budget, self.steps_per_look)
        return connection

    def _over_budget(self) -> int:
        return 1 if time.perf_counter() > self._deadline else 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
