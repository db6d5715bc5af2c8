"""Several server processes on one port: a busy process asks its clients to reconnect, so that
kept-alive connections do not all stay on one of them."""

import asyncio
import time

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from assistant.api.middleware import SPREAD_AT, SpreadMiddleware

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
