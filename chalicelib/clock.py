"""Time as the code waits on it: ``now`` and ``sleep``, injectable so that tests of retries and
waits run without sleeping (and the same way every time)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


SYSTEM = Clock()
