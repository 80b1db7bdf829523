"""SQLite through aiosqlite, with each statement in one trip to the connection's thread.

aiosqlite runs every call on its connection's own thread, and SQLAlchemy's adapter makes
four calls per statement (open a cursor, execute, fetch, close), each a hand-off to that
thread and a wake-up of the event loop. Here one function does all four on the thread and
brings back the description, counts and rows: the same work, a quarter of the hand-offs.
A single-row lookup then costs about 0.2 ms of CPU instead of 0.4 ms, and the accept path
and the dispatcher are made of such statements.

A commit or rollback with no transaction open makes no trip at all. The pool rolls back
every connection it gets back, after a commit too, and a session that only read commits
nothing: half of the API's trips were these. Whether a transaction is open is known after
each statement (SQLite says so), so it is tracked beside the connection; a streamed read,
which goes by SQLAlchemy's own cursor, counts as "maybe open".

Write transactions also take turns in the process: a connection's first INSERT, UPDATE
or DELETE waits for an asyncio lock that its commit or rollback releases. SQLite allows one
writer at a time; without the turn, the others sleep in SQLite's busy handler, in steps of
up to 100 ms, so under 32 concurrent API requests one in a hundred waited over 1.5 s. In
turn they wait in order, for exactly as long as the writer before them. (Other processes
still meet the busy handler; they are the rare case.)

Uses aiosqlite's `_execute` (run a function on the connection's thread) and `_conn` (the
sqlite3 connection, touched only from that thread). Server-side cursors (streamed
results) keep SQLAlchemy's own cursor.
"""

from __future__ import annotations

import asyncio
import collections
import sqlite3
import weakref
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

# description, rowcount, lastrowid, rows, whether a transaction is open after it
_Outcome = tuple[Any, int, int | None, list[Any], bool]
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
# As long as SQLite's own busy timeout (the engine's connect_args): then "database is locked".
TURN_TIMEOUT_SECONDS = 30.0


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No cursor is opened here: each statement opens and closes its own on the thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        return  # the statement's cursor is closed already

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: _OneTripConnection = self._adapt_connection  # type: ignore[assignment]
        await connection.take_turn_for(operation)
        connection.maybe_open = True  # until the statement says otherwise (it may fail)
        async with connection._execute_mutex:
            outcome = await self._on_thread(operation, parameters, many=many)
        self._description, self._rowcount, self._lastrowid, rows, open_after = outcome
        self._rows = collections.deque(rows)
        connection.maybe_open = open_after
        if not open_after:  # nothing left to commit (autocommit, or the statement ended it)
            connection.end_turn()

    async def _on_thread(self, operation: Any, parameters: Any, *, many: bool) -> _Outcome:
        sqlite = self._connection._conn

        def run() -> _Outcome:
            cursor = sqlite.cursor()
            try:
                if many:
                    cursor.executemany(operation, parameters)
                elif parameters is None:
                    cursor.execute(operation)
                else:
                    cursor.execute(operation, parameters)
                rows: Sequence[Any] = cursor.fetchall() if cursor.description else []
                return (
                    cursor.description,
                    cursor.rowcount,
                    cursor.lastrowid,
                    list(rows),
                    sqlite.in_transaction,
                )
            finally:
                cursor.close()

        outcome: _Outcome = await self._connection._execute(run)
        return outcome


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_turn", "maybe_open")
    _cursor_cls = _OneTripCursor

    def __init__(self, dbapi: OneTripDBAPI, connection: Any) -> None:
        super().__init__(dbapi, connection)
        self._turn: asyncio.Lock | None = None
        # False only when the last statement left no transaction open, or one just ended.
        self.maybe_open = True

    def cursor(self, server_side: bool = False) -> Any:
        if server_side:  # SQLAlchemy's own cursor: its statements are not seen here
            self.maybe_open = True
        return super().cursor(server_side)

    async def take_turn_for(self, operation: str) -> None:
        """Before the first write of a transaction: wait for the writer before it to end."""
        if self._turn is not None or not operation.lstrip()[:7].upper().startswith(_WRITES):
            return
        turn = self.dbapi.writer_turn()
        try:
            # Not wait_for: in Python 3.11 a cancel that lands as it succeeds loses the lock.
            async with asyncio.timeout(TURN_TIMEOUT_SECONDS):
                await turn.acquire()
        except TimeoutError:
            raise self.dbapi.OperationalError(
                "database is locked: another write transaction of this process has been "
                f"open for over {TURN_TIMEOUT_SECONDS:g} s"
            ) from None
        self._turn = turn

    def end_turn(self) -> None:
        if self._turn is not None:
            self._turn.release()
            self._turn = None

    def commit(self) -> None:
        try:
            if self.maybe_open:
                super().commit()
                self.maybe_open = False
        finally:
            self.end_turn()

    def rollback(self) -> None:
        try:
            if self.maybe_open:
                super().rollback()
                self.maybe_open = False
        finally:
            self.end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.end_turn()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self.end_turn()


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module SQLAlchemy's aiosqlite dialect is given (`create_engine(module=)`)."""

    def __init__(self) -> None:
        super().__init__(aiosqlite, sqlite3)
        # The writers' turn, one per event loop (tests run several loops in one process).
        self._turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def writer_turn(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        turn = self._turns.get(loop)
        if turn is None:
            turn = self._turns[loop] = asyncio.Lock()
        return turn

    def connect(self, *arg: Any, **kw: Any) -> _OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return _OneTripConnection(self, adapted._connection)
