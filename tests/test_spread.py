"""Several server processes on one port: a busy process asks its clients to reconnect, so that
kept-alive connections do not all stay on one of them."""

import asyncio
import time

import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from assistant.api.spread import SPREAD_AT, SpreadMiddleware

from .test_mcp import serve  # a real uvicorn in a thread


async def slow(request) -> PlainTextResponse:
    await asyncio.sleep(float(request.query_params.get("s", "0")))
    return PlainTextResponse("ok")


def test_a_busy_process_closes_connections_and_a_lone_client_keeps_its_own():
    app = SpreadMiddleware(Starlette(routes=[Route("/slow", slow)]))
    with serve(app) as url:
        with httpx.Client(base_url=url) as lone:  # one request at a time: never busy
            replies = [lone.get("/slow") for _ in range(3)]
        assert all(r.status_code == 200 for r in replies)
        assert all(r.headers.get("connection") != "close" for r in replies)

        async def together(long: int) -> list[httpx.Response]:
            # Long requests in flight while three short ones finish: a short one is sent while
            # the process works on `long` others (and itself).
            async with httpx.AsyncClient(base_url=url) as client:
                slow_ones = [asyncio.create_task(client.get("/slow", params={"s": "1.0"}))
                             for _ in range(long)]
                await asyncio.sleep(0.3)
                short = [await client.get("/slow") for _ in range(3)]
                return [*short, *[await t for t in slow_ones]]

        replies = asyncio.run(together(SPREAD_AT - 1))  # busy, but with no more than it may
        assert all(r.status_code == 200 for r in replies)
        assert all(r.headers.get("connection") != "close" for r in replies)
        replies = asyncio.run(together(SPREAD_AT))  # more: the short ones reconnect
        assert all(r.status_code == 200 for r in replies)
        assert [r.headers.get("connection") for r in replies[:3]] == ["close"] * 3
        assert app.busy == 0


def test_compute_runs_no_more_calls_at_once_than_its_threads():
    """Calls beyond the limit wait their turn, and start in the order they came."""
    import anyio

    from assistant.api.compute import Compute

    running, most, started = [0], [0], []

    def work(n: int) -> int:
        started.append(n)
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.05)
        running[0] -= 1
        return n * n

    async def main() -> list[int]:
        compute = Compute(2)
        out: dict[int, int] = {}

        async def one(n: int) -> None:
            out[n] = await compute(work, n)

        async with anyio.create_task_group() as tg:
            for n in range(6):
                tg.start_soon(one, n)
                await anyio.sleep(0.005)  # queued in this order
        return [out[n] for n in range(6)]

    assert anyio.run(main) == [n * n for n in range(6)]
    assert most[0] == 2 and started == list(range(6))
    try:
        Compute(0)
    except ValueError as exc:
        assert "threads" in str(exc)
    else:
        raise AssertionError("Compute(0) was accepted")


def test_workers_take_their_own_slots_and_a_gone_one_leaves_its_slot(tmp_path):
    import subprocess
    import sys

    from assistant.api.spread import Board

    path = Board.create()
    try:
        first, second = Board.join(path), Board.join(path)  # two workers (here: one process)
        assert (first.slot, second.slot) == (0, 1)
        assert first.least_other() == 0  # the other is idle
        second.set(3)
        first.set(1)
        assert first.least_other() == 3 and second.least_other() == 1
        second.leave()
        assert first.least_other() is None  # no other worker now
        # A slot whose process is gone (a worker that died) goes to the next worker to join.
        gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout.strip()
        counts = np.frombuffer(bytearray(path.read_bytes()), dtype=np.int64).reshape(-1, 2)
        counts[1] = (int(gone), 5)
        path.write_bytes(counts.tobytes())
        assert first.least_other() == 5  # still counted: nobody has checked yet
        third = Board.join(path)
        assert third.slot == 1 and first.least_other() == 0
    finally:
        path.unlink()
    try:
        Board.join(path)
    except OSError as exc:
        assert str(path) in str(exc) or "No such file" in str(exc)
    else:
        raise AssertionError("joined a board that is not there")


def test_with_a_board_a_worker_sends_clients_away_only_to_a_less_busy_one():
    from assistant.api.spread import Board

    path = Board.create()
    try:
        here, other = Board.join(path), Board.join(path)
        app = SpreadMiddleware(Starlette(routes=[Route("/slow", slow)]), board=here)
        with serve(app) as url:

            async def short_while_one_long(other_busy: int) -> list[httpx.Response]:
                other.set(other_busy)
                async with httpx.AsyncClient(base_url=url) as client:
                    long = asyncio.create_task(client.get("/slow", params={"s": "1.0"}))
                    await asyncio.sleep(0.3)
                    assert here_busy() == 1  # published: the other worker sees it
                    short = [await client.get("/slow") for _ in range(3)]
                    return [*short, await long]

            def here_busy() -> int:
                counts = np.frombuffer(path.read_bytes(), dtype=np.int64).reshape(-1, 2)
                return int(counts[here.slot, 1])

            with httpx.Client(base_url=url) as lone:  # alone here, the other idle: stays
                assert all(lone.get("/slow").headers.get("connection") != "close"
                           for _ in range(3))
            # One other request here and none there: the short ones move over.
            replies = asyncio.run(short_while_one_long(0))
            assert [r.headers.get("connection") for r in replies[:3]] == ["close"] * 3
            # The other worker is as busy or busier: they stay.
            replies = asyncio.run(short_while_one_long(1))
            assert all(r.headers.get("connection") != "close" for r in replies)
            assert all(r.status_code == 200 for r in replies)
            assert app.busy == 0 and here_busy() == 0
    finally:
        path.unlink()
