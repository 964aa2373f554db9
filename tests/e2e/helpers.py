"""Running ``python -m dicomweb_cli`` as a user does: its own process, from the repo, with
no AWS credentials of the caller's leaking in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DICOMWEB_"))}
    return subprocess.run(
        [sys.executable, "-m", "dicomweb_cli", *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
