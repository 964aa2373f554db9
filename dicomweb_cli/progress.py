"""A rich progress bar showing files/s and MB/s (on a terminal; silent when piped)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task
        self._started = time.monotonic()
        self._bytes = 0

    def total(self, files: int) -> None:
        self._progress.update(self._task, total=files)

    def advance(self, files: int, nbytes: int) -> None:
        self._bytes += nbytes
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._progress.update(
            self._task,
            advance=files,
            rate=f"{self._progress.tasks[0].completed / elapsed:.1f} files/s, "
            f"{self._bytes / 1e6 / elapsed:.1f} MB/s",
        )


@contextmanager
def bar(description: str) -> Iterator[Bar]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
    ) as progress:
        task = progress.add_task(description, total=None, rate="")
        yield Bar(progress, task)
