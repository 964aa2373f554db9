"""A thread pool whose work runs in the context of the code that submitted it.

A new thread starts with an empty ``contextvars`` context, so work handed to a plain
``ThreadPoolExecutor`` loses what the request set: its AWS-call tally above all
(``observability.tallying_aws_calls``). In Lambda one request runs at a time and the tally
finds it anyway; in the STOW receiver, which serves many requests in one process, only the
submitter's context says whose calls they are. ``map`` and asyncio's ``run_in_executor`` go
through ``submit``, so they carry it too.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ContextPool(ThreadPoolExecutor):
    """``ThreadPoolExecutor`` running each callable in a copy of its submitter's context."""

    def submit(  # type: ignore[override]
        self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> Future[T]:
        context = contextvars.copy_context()
        run: Callable[..., Any] = context.run
        return super().submit(run, fn, *args, **kwargs)
