"""One file through the service's presigned uploads (``POST /uploads``, non-standard).

Used where it pays: a very large file (``--large``, default 1 GiB), whose S3 multipart upload
retries each 64 MB part on its own instead of the whole file; and, when a STOW answers 413 (a
deployment with the streaming receiver turned off, where API Gateway takes ~4.5 MB a request),
every file over that. The file is PUT (or its parts are) to the presigned URLs, which are the
credential (no key goes to S3); the service imports it like a STOW, and its status says stored
or failed.
"""

from __future__ import annotations

import functools
import hashlib
import time
from typing import Any

import requests

from dicomweb_cli.scan import Found
from dicomweb_cli.session import Client, error_message, with_retries
from dicomweb_cli.stow import PartOutcome, reason_words

#: How long the import of an uploaded file may take before the CLI gives up waiting.
IMPORT_WAIT = 300.0


def upload_presigned(client: Client, found: Found) -> tuple[PartOutcome, str | None]:
    """The outcome of ``found`` and its SHA-256 (None when it was not read whole)."""
    spec: dict[str, Any] = {"files": [{"name": found.path.name, "size": found.size}]}
    r = client.send("POST", client.url("/uploads"), json=spec)
    if r.status_code != 201:
        return PartOutcome(False, f"presigned upload refused: {error_message(r)}"), None
    answer = r.json()
    (target,) = answer["files"]
    digest = hashlib.sha256()
    with requests.Session() as plain:  # presigned URLs are the credential: no key goes to S3
        if "url" in target:
            data = found.path.read_bytes()
            digest.update(data)
            put = with_retries(
                lambda: plain.put(target["url"], data=data, headers=target.get("headers", {}))
            )
            if put.status_code >= 300:
                return PartOutcome(False, f"the upload was refused: HTTP {put.status_code}"), None
        else:
            multipart = target["multipart"]
            etags = []
            with found.path.open("rb") as f:
                for part in multipart["parts"]:
                    f.seek((part["partNumber"] - 1) * multipart["partSize"])
                    chunk = f.read(multipart["partSize"])
                    digest.update(chunk)
                    url: str = part["url"]
                    put = with_retries(functools.partial(plain.put, url, data=chunk))
                    if put.status_code >= 300:
                        why = f"part {part['partNumber']} was refused: HTTP {put.status_code}"
                        return PartOutcome(False, why), None
                    etags.append({"partNumber": part["partNumber"], "etag": put.headers["ETag"]})
            done = client.send("POST", multipart["complete"], json={"parts": etags})
            if done.status_code >= 300:
                return PartOutcome(False, f"completing the upload: {error_message(done)}"), None
    return _imported(client, answer["status"]), digest.hexdigest()


def _imported(client: Client, status_url: str) -> PartOutcome:
    deadline = time.monotonic() + IMPORT_WAIT
    delay = 0.2
    while time.monotonic() < deadline:
        r = client.send("GET", status_url)
        if r.status_code == 200:
            body = r.json()
            if body.get("stored"):
                return PartOutcome(True)
            failed = (body.get("response") or {}).get("00081198", {}).get("Value", [])
            words = reason_words(failed[0]) if failed else "not stored"
            return PartOutcome(False, f"{words} (the import refused it)")
        if r.status_code != 202:
            return PartOutcome(False, f"upload status: {error_message(r)}")
        time.sleep(delay)
        delay = min(delay * 2, 2.0)
    return PartOutcome(False, f"uploaded, but not imported within {IMPORT_WAIT:.0f} s")
