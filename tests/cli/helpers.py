"""The people's CLI run as a person runs it: its own process, endpoint and key from the
environment, a fresh ``HOME`` (the upload journal lives under ``~/.cache``), from any folder
(``retrieve`` writes under the current one), no AWS credentials of the caller's leaking in."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
#: No line of any run may hold one.
TRACEBACK = "Traceback (most recent call last)"


def run(
    *args: str,
    url: str,
    key: str,
    home: Path,
    cwd: Path | None = None,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DICOMWEB_"))}
    done = subprocess.run(
        [sys.executable, "-m", "dicomweb_cli", *args],
        cwd=cwd or ROOT,
        env={
            **base,
            "PYTHONPATH": str(ROOT),
            "DICOMWEB_URL": url,
            "DICOMWEB_API_KEY": key,
            "HOME": str(home),
            "COLUMNS": "80",
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert TRACEBACK not in done.stdout + done.stderr, done.stdout + done.stderr
    return done


def outcomes(stdout: str) -> dict[str, tuple[str, str]]:
    """``-v`` output: shown path -> (outcome, detail); every path must appear once."""
    found: dict[str, tuple[str, str]] = {}
    for line in stdout.splitlines():
        if line.startswith(("stored ", "replaced ", "already ", "failed ", "skipped ", "not sent")):
            outcome, rest = (line[:9].strip(), line[9:])
            path, _, detail = rest.partition(": ")
            assert path not in found, f"{path} reported twice:\n{stdout}"
            found[path] = (outcome, detail)
    return found


def journal(home: Path) -> dict[str, dict[str, Any]]:
    """The journal's last entry per path."""
    (path,) = (home / ".cache" / "dicomweb-cli").glob("uploaded-*.jsonl")
    last: dict[str, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        entry = json.loads(line)
        last[entry["path"]] = entry
    return last


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
