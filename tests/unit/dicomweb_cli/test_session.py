"""The CLI's retry and failure policy, its local-stack defaults, and its code and libraries
staying out of the Lambda's imports."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import requests

from dicomweb_cli import admin, session
from dicomweb_cli.session import (
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    Client,
    CliError,
    Endpoint,
    connection_reason,
    endpoint,
    server_warnings,
    with_retries,
)

ROOT = Path(__file__).resolve().parents[3]


def answer(status: int, retry_after: str | None = None, warning: str | None = None):
    r = requests.Response()
    r.status_code = status
    if retry_after:
        r.headers["Retry-After"] = retry_after
    if warning:
        r.headers["Warning"] = warning
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


def test_a_connection_error_is_retried_only_when_asked() -> None:
    calls: list[int] = []

    def refused() -> requests.Response:
        calls.append(1)
        raise requests.ConnectionError("[Errno 111] Connection refused")

    with pytest.raises(requests.ConnectionError):
        with_retries(refused, sleep=lambda s: None, reconnect=False)
    assert len(calls) == 1
    with pytest.raises(requests.ConnectionError):
        with_retries(refused, attempts=3, sleep=lambda s: None)
    assert len(calls) == 4


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_wrong_url_fails_at_once_naming_it() -> None:
    """Nothing listens: the first request says so, without the 15 s of retries."""
    url = f"http://127.0.0.1:{free_port()}"
    client = Client(Endpoint(url, "k"), sleep=lambda s: pytest.fail("retried"))
    started = time.monotonic()
    with pytest.raises(CliError) as err:
        client.send("GET", client.url("/studies"))
    assert time.monotonic() - started < 5
    assert err.value.code == EXIT_UNREACHABLE
    assert str(err.value).startswith(f"cannot reach {url} (Connection refused)")


def test_a_root_that_answers_anything_is_reached() -> None:
    """A deployment without ``GET /`` answers 403 there (API Gateway's missing route): the
    URL is right all the same; nothing listening is not."""

    class Forbidden(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(403)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Forbidden)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        Client(Endpoint(f"http://127.0.0.1:{server.server_port}", "k")).reach()
    finally:
        server.shutdown()
        server.server_close()
    with pytest.raises(CliError) as err:
        Client(Endpoint(f"http://127.0.0.1:{free_port()}", "k")).reach()
    assert err.value.code == EXIT_UNREACHABLE


def test_the_innermost_reason_of_a_connection_error() -> None:
    text = (
        "HTTPConnectionPool(host='x.invalid', port=80): Max retries exceeded with url: /studies "
        '(Caused by NameResolutionError("<urllib3.connection.HTTPConnection object>: Failed '
        "to resolve 'x.invalid' ([Errno -2] Name or service not known)\"))"
    )
    assert connection_reason(requests.ConnectionError(text)) == "Name or service not known"
    assert connection_reason(requests.ReadTimeout("x")) == "no answer in time"


def test_the_servers_warnings_are_read_whole() -> None:
    header = (
        '299 127.0.0.1:8000 "Foo is not a known attribute and was ignored", '
        '299 127.0.0.1:8000 "There are 44 additional results that can be requested", '
        '299 h "a \\"quoted\\" word"'
    )
    assert server_warnings(answer(200, warning=header)) == [
        "Foo is not a known attribute and was ignored",
        "There are 44 additional results that can be requested",
        'a "quoted" word',
    ]
    assert server_warnings(answer(200)) == []


def test_an_endpoint_needs_a_key_and_an_http_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DICOMWEB_API_KEY", raising=False)
    monkeypatch.setattr(session, "LOCAL_KEY_FILE", Path("/nonexistent"))
    with pytest.raises(CliError) as err:
        endpoint("http://127.0.0.1:8000", None)
    assert err.value.code == EXIT_USAGE and "--key" in str(err.value)
    with pytest.raises(CliError) as err:
        endpoint("127.0.0.1:8000", "k")
    assert err.value.code == EXIT_USAGE
    assert endpoint("http://h:1/", "k") == Endpoint("http://h:1", "k")


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
