"""The CLI's retry policy, its local-stack defaults, and its code and libraries staying out
of the Lambda's imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from dicomweb_cli import admin, session
from dicomweb_cli.session import with_retries
from dicomweb_cli.upload import BATCH_BYTES, Candidate, batches

ROOT = Path(__file__).resolve().parents[3]


def answer(status: int, retry_after: str | None = None) -> requests.Response:
    r = requests.Response()
    r.status_code = status
    if retry_after:
        r.headers["Retry-After"] = retry_after
    return r


def test_retries_throttling_and_transient_errors_then_gives_the_answer() -> None:
    script = [answer(429, "3"), answer(503), answer(200)]
    slept: list[float] = []
    got = with_retries(lambda: script.pop(0), sleep=slept.append)
    assert got.status_code == 200 and slept == [3.0, 2]


def test_does_not_retry_a_client_error_and_stops_after_the_attempts() -> None:
    slept: list[float] = []
    assert with_retries(lambda: answer(400), sleep=slept.append).status_code == 400
    assert slept == []
    assert with_retries(lambda: answer(503), attempts=3, sleep=slept.append).status_code == 503
    assert slept == [1, 2]


def test_batches_stay_under_the_payload_limit() -> None:
    files = [Candidate(Path(f"f{i}"), 900_000, 0) for i in range(10)]
    files.append(Candidate(Path("big"), BATCH_BYTES + 1, 0))
    small, large = batches(files)
    assert [c.path.name for c in large] == ["big"]
    assert all(sum(c.size for c in b) <= BATCH_BYTES for b in small)
    assert sum(len(b) for b in small) == 10


def test_the_lambda_entry_imports_no_client_library() -> None:
    code = (
        "import sys; from local.testenv import use_test_environment; use_test_environment(); "
        "import app; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich' "
        "or m.split('.')[0] == 'dicomweb_cli'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_the_local_stack_files_are_found_at_the_repo_root() -> None:
    """``make serve`` writes ``.state/`` at the repo root; the CLI reads it without a flag."""
    assert session.LOCAL_KEY_FILE == ROOT / ".state" / "demo-api-key"
    assert admin.LOCAL_STATE == ROOT / ".state" / "stack.json"
