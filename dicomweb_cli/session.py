"""Endpoint, key, and a client that retries what is worth retrying and stops on what is not.

Endpoint and key come from flags, else ``DICOMWEB_URL`` / ``DICOMWEB_API_KEY``, else the local
stack (``make serve``: http://127.0.0.1:8000 and the demo key in ``.state/demo-api-key``). The
key travels as ``Authorization: Bearer``, which requests drops when a redirect leaves the host
(a presigned download needs no key, and must not receive one).

``Client.send`` is every request of the people's commands: throttling (429), transient errors
(502, 503, 504) and dropped connections are retried with backoff, but only once the service has
answered at least once: a first request that cannot connect is a wrong URL or a stopped
service, said at once, naming the URL. A refused key (401) or a missing scope (403) stops the
command at the first answer (``CliError``, exit status ``EXIT_KEY``), never one line per file.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

LOCAL_URL = "http://127.0.0.1:8000"
LOCAL_KEY_FILE = Path(__file__).resolve().parents[1] / ".state" / "demo-api-key"
#: Statuses a retry can fix: throttling, a transient AWS error, API Gateway's own 502/504.
RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Seconds to connect, and to wait for the next bytes of an answer (a STOW answers once what
#: it stored is searchable: well within this for the batches the CLI sends).
TIMEOUT = (10.0, 300.0)

#: Exit statuses of the people's commands (docs/cli.md, "Exit status").
EXIT_OK = 0
EXIT_FAILED = 1  # some files or instances failed; the rest were done
EXIT_USAGE = 2  # a wrong argument: a path that does not exist, a refused query (argparse: 2)
EXIT_UNREACHABLE = 3  # the service cannot be reached, or is not a DICOMweb root
EXIT_KEY = 4  # the API key was refused (401) or lacks the scope (403)
EXIT_NOT_FOUND = 5  # retrieve: no such study or series
EXIT_INTERRUPTED = 130  # Ctrl-C


class CliError(Exception):
    """An expected failure: one line for the person, and the exit status."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Endpoint:
    url: str
    key: str


def endpoint(url: str | None = None, key: str | None = None) -> Endpoint:
    url = url or os.environ.get("DICOMWEB_URL") or LOCAL_URL
    key = key or os.environ.get("DICOMWEB_API_KEY")
    if not key and LOCAL_KEY_FILE.exists():
        key = LOCAL_KEY_FILE.read_text().strip()
    if not key:
        raise CliError("no API key: pass --key or set DICOMWEB_API_KEY", EXIT_USAGE)
    if not re.match(r"https?://[^/]", url):
        raise CliError(f"the URL must start with http:// or https://: {url}", EXIT_USAGE)
    return Endpoint(url.rstrip("/"), key)


def session(ep: Endpoint, pool: int = 8) -> requests.Session:
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {ep.key}"
    adapter = requests.adapters.HTTPAdapter(pool_connections=pool, pool_maxsize=pool)
    http.mount("http://", adapter)
    http.mount("https://", adapter)
    return http


def with_retries(
    send: Callable[[], requests.Response],
    attempts: int = 5,
    sleep: Callable[[float], Any] = time.sleep,
    reconnect: bool = True,
) -> requests.Response:
    """``send()`` again on a retryable status, or on a connection error when ``reconnect``,
    backing off (1, 2, 4, 8 s or the server's Retry-After); the last answer or error is the
    caller's."""
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = send()
        except (requests.ConnectionError, requests.Timeout):
            if last or not reconnect:
                raise
            sleep(2**attempt)
            continue
        if response.status_code not in RETRY_STATUSES or last:
            return response
        retry_after = response.headers.get("Retry-After", "")
        sleep(float(retry_after) if retry_after.isdigit() else 2**attempt)
    raise AssertionError("unreachable")


def error_message(r: requests.Response) -> str:
    """``HTTP 400: <the service's message>``, or the status alone."""
    try:
        return f"HTTP {r.status_code}: {r.json()['error']['message']}"
    except (ValueError, KeyError, TypeError):
        return f"HTTP {r.status_code}"


def connection_reason(exc: Exception) -> str:
    """The words of the innermost cause (``Connection refused``, ``Name or service not
    known``, ``timed out``), not urllib3's pool description."""
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    found = re.findall(r"\[Errno -?\d+\] ([^'\")\]]+)", str(exc))
    return found[-1].strip() if found else type(exc).__name__


def server_warnings(r: requests.Response) -> list[str]:
    """The texts of the answer's ``Warning: 299 agent "text"`` values (PS3.18 8.3.4.1)."""
    header = r.headers.get("Warning", "")
    return [
        re.sub(r"\\(.)", r"\1", text)
        for text in re.findall(r'\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"', header)
    ]


class Client:
    """The service's root, the session with the key, and the failure policy."""

    def __init__(
        self,
        ep: Endpoint,
        pool: int = 8,
        sleep: Callable[[float], Any] = time.sleep,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self.ep = ep
        self.http = session(ep, pool)
        self._sleep = sleep
        self._timeout = timeout
        self._reached = False

    def url(self, path: str) -> str:
        return self.ep.url + path

    def reach(self) -> None:
        """Whether the root answers at all (``GET /``, any status: a deployment without that
        route answers 403 or 404): a wrong URL is said before any work starts."""
        try:
            self.http.get(self.url("/"), timeout=self._timeout).close()
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise self._unreachable(exc) from exc
        self._reached = True

    def _unreachable(self, exc: Exception) -> CliError:
        return CliError(
            f"cannot reach {self.ep.url} ({connection_reason(exc)}): is the service "
            "running, and is --url (or DICOMWEB_URL) its DICOMweb root?",
            EXIT_UNREACHABLE,
        )

    def send(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request, retried as the module says; a refused key raises ``CliError``.
        ``kwargs`` may hold ``data`` as a callable making a fresh body for each attempt."""
        make_data = kwargs.pop("make_data", None)

        def attempt() -> requests.Response:
            if make_data is not None:
                kwargs["data"] = make_data()
            return self.http.request(method, url, timeout=self._timeout, **kwargs)

        try:
            r = with_retries(attempt, sleep=self._sleep, reconnect=self._reached)
        except (requests.ConnectionError, requests.Timeout) as exc:
            if self._reached:
                raise CliError(
                    f"lost the connection to {self.ep.url} ({connection_reason(exc)})",
                    EXIT_UNREACHABLE,
                ) from exc
            raise self._unreachable(exc) from exc
        self._reached = True
        if r.status_code == 401:
            raise CliError(
                f"the service refused the API key ({error_message(r)}): "
                "check --key or DICOMWEB_API_KEY",
                EXIT_KEY,
            )
        if r.status_code == 403:
            raise CliError(f"the API key may not do this ({error_message(r)})", EXIT_KEY)
        return r

    def not_dicomweb(self, r: requests.Response) -> CliError:
        """The error for an answer no DICOMweb root of this service gives (a wrong --url)."""
        kind = r.headers.get("Content-Type", "no Content-Type").split(";")[0]
        return CliError(
            f"{r.request.url} answered {error_message(r)} ({kind}): is {self.ep.url} the "
            "DICOMweb root (--url, DICOMWEB_URL)?",
            EXIT_UNREACHABLE,
        )

    def close(self) -> None:
        self.http.close()
