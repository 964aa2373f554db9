"""A rich progress bar on stderr showing files/s and MB/s: drawn on a terminal only, so
stdout keeps the results (one line per file, the summary) for a pipe or a file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Bar:
    def __init__(self, progress: Any, task: Any) -> None:
        self._progress, self._task = progress, task
        self._started = time.monotonic()
        self._files = 0
        self._bytes = 0

    def total(self, files: int, _bytes: int = 0) -> None:
        self._progress.update(self._task, total=files)

    def advance(self, files: int, nbytes: int) -> None:
        self._files += files
        self._bytes += nbytes
        elapsed = max(time.monotonic() - self._started, 1e-6)
        self._progress.update(
            self._task,
            advance=files,
            rate=f"{self._files / elapsed:.1f} files/s, {self._bytes / 1e6 / elapsed:.1f} MB/s",
        )


@contextmanager
def bar(description: str) -> Iterator[Bar]:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_interactive,  # piped: no bar, not even its last frame
        redirect_stdout=False,
        redirect_stderr=False,
    ) as progress:
        task = progress.add_task(description, total=None, rate="")
        yield Bar(progress, task)
