"""Kept-alive connections spread over a server's worker processes (`serve --workers N`).

Worker processes accept connections from one shared socket, and a client keeps its connection
alive: connections opened in one burst (a pool of clients starting together) often all land on
one worker, which then serves every request while the others idle (8 clients on 2 workers: 17
of the two workers' 18 CPU seconds on one). `SpreadMiddleware` asks a client to reconnect
(`Connection: close`) when its worker is busier than another; the client is then accepted by
whichever worker accepts first, an idle one before a busy one. The workers see each other's
load on a `Board`: a small shared file with each worker's requests in flight.
"""

from __future__ import annotations

import atexit
import fcntl
import logging
import mmap
import os
import tempfile
from pathlib import Path

import numpy as np
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("assistant")

# Without a board (several processes started by some other launcher), a response sent while
# its process works on this many other requests (or more) closes its connection. Two keep a
# process's core busy; with one, a balanced pair of clients per process reconnected after every
# request (kept answers: 709 against 791 a second).
SPREAD_AT = 2
SLOTS = 64  # worker processes a board has room for (`serve --workers` allows up to 64)
_SLOT_BYTES = 16  # (process id, requests in flight), two int64


class Board:
    """Requests in flight in each of a server's worker processes: a file every worker maps,
    one slot each; a worker writes only its own slot, so it needs no lock but to join."""

    def __init__(self, counts: np.ndarray, slot: int) -> None:
        self._counts = counts  # a view of the mapped file (which it keeps mapped)
        self.slot = slot

    @staticmethod
    def create() -> Path:
        """A new, empty board file (made by the process that starts the workers)."""
        folder = "/dev/shm" if os.path.isdir("/dev/shm") else None  # memory, never written out
        fd, name = tempfile.mkstemp(prefix="assistant-board-", dir=folder)
        with os.fdopen(fd, "wb") as f:
            f.write(bytes(SLOTS * _SLOT_BYTES))
        return Path(name)

    @classmethod
    def join(cls, path: Path) -> Board:
        """This process's slot on a board: the first one no live process holds (a worker that
        died left its slot; the one started in its place takes it). Raises OSError when the
        board cannot be read or has no free slot."""
        with open(path, "r+b") as f:
            buffer = mmap.mmap(f.fileno(), SLOTS * _SLOT_BYTES)
            counts = np.frombuffer(buffer, dtype=np.int64).reshape(SLOTS, 2)
            fcntl.flock(f, fcntl.LOCK_EX)  # workers starting together take different slots
            try:  # unlocked by hand: the map holds a copy of the descriptor, and so the lock
                for slot in range(SLOTS):
                    if not _alive(int(counts[slot, 0])):
                        counts[slot] = (os.getpid(), 0)
                        board = cls(counts, slot)
                        atexit.register(board.leave)
                        return board
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)
        raise OSError(f"the board {path} has no free slot for a worker (at most {SLOTS})")

    def set(self, busy: int) -> None:
        """Publish this process's requests in flight."""
        self._counts[self.slot, 1] = busy

    def least_other(self) -> int | None:
        """The fewest requests in flight in another worker (None: no other worker yet)."""
        others = self._counts[:, 0] != 0
        others[self.slot] = False
        return int(self._counts[others, 1].min()) if others.any() else None

    def leave(self) -> None:
        """Free this process's slot (at exit: the others stop counting on it)."""
        self._counts[self.slot] = (0, 0)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def join_board(path: Path | None) -> Board | None:
    """This worker's slot on the board at `path`, or None (no board, or it cannot be joined:
    then each worker goes by its own load alone, with a note saying why)."""
    if path is None:
        return None
    try:
        return Board.join(path)
    except OSError as exc:
        log.warning("connections spread by each worker's own load: %s", exc)
        return None


class SpreadMiddleware:
    """One of several worker processes: a response asks its client to reconnect when this
    process is busier than another. With a `Board`: when the other requests in flight here
    outnumber those of the least busy other worker (moving the client there evens them out,
    and balanced workers keep their connections); without one: when SPREAD_AT other requests
    or more are in flight here. A lone client keeps its connection."""

    def __init__(self, app: ASGIApp, board: Board | None = None) -> None:
        self.app = app
        self.board = board
        self.busy = 0  # requests in flight in this process (one event loop: no lock needed)

    def crowded(self) -> bool:
        """Whether the response now being sent should close its connection."""
        if self.board is None:
            return self.busy > SPREAD_AT
        least = self.board.least_other()
        return least is not None and self.busy - 1 > least

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and self.crowded():
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"connection", b"close")]}
            await send(message)

        self._count(+1)
        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self._count(-1)

    def _count(self, change: int) -> None:
        self.busy += change
        if self.board is not None:
            self.board.set(self.busy)
