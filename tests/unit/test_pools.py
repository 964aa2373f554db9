"""chalicelib.pools: work submitted to the pool runs in its submitter's context."""

from __future__ import annotations

import asyncio
import contextvars
from concurrent.futures import ThreadPoolExecutor

from chalicelib.pools import ContextPool

request: contextvars.ContextVar[str] = contextvars.ContextVar("request", default="none")


def seen(_: object = None) -> str:
    return request.get()


def test_submit_map_and_run_in_executor_carry_the_submitters_context() -> None:
    with ContextPool(max_workers=2) as pool:
        for name in ("a", "b"):
            token = request.set(name)
            assert pool.submit(seen).result() == name
            assert list(pool.map(seen, range(3))) == [name] * 3
            request.reset(token)

        async def one(name: str) -> str:
            request.set(name)  # a task's own context, as one request of the receiver
            return await asyncio.get_running_loop().run_in_executor(pool, seen)

        async def both() -> list[str]:
            return list(await asyncio.gather(one("x"), one("y")))

        assert asyncio.run(both()) == ["x", "y"]


def test_a_plain_pool_would_lose_it() -> None:
    """What the pool is for: a new thread starts with an empty context."""
    token = request.set("a")
    with ThreadPoolExecutor(max_workers=1) as pool:
        assert pool.submit(seen).result() == "none"
    request.reset(token)


def test_the_context_is_a_copy() -> None:
    """The work's own changes stay in the work's copy."""

    def change() -> str:
        request.set("changed")
        return request.get()

    token = request.set("a")
    with ContextPool(max_workers=1) as pool:
        assert pool.submit(change).result() == "changed"
    assert request.get() == "a"
    request.reset(token)
