"""No request costs far more than its answer (issue 23), seen over HTTP: each amplifying input
of the security review is a 400 with the JSON error body, and once the key is known (its cache
warm) no AWS call is made for it at all: the AWS-call counter stays at zero. (The per-tenant
rate limit, off in the test stack, is the one call a deployed stack makes before the bound.)"""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import uid

FRAMES = "/studies/{}/series/{}/instances/{}/frames/{}"


def refused_without_aws(stack: Any, method: str, path: str, code: str, **kw: Any) -> None:
    stack.get("/studies", params={"limit": "1"})  # the key is cached from here on
    stack.counter.reset()
    r = stack.http.request(method, stack.url + path, **kw)
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["code"] == code
    assert stack.counter.snapshot() == {}


@pytest.mark.parametrize(
    "frames",
    [
        ",".join(["1"] * 2500),  # a 4 KB frame composed into 10.5 MB, one ranged GET each
        ",".join(str(n) for n in range(1, 1002)),  # over MAX_FRAMES (1,000)
        "3,1,3",  # a frame twice
    ],
)
@pytest.mark.parametrize("rendered", ["", "/rendered"])
def test_frame_lists_are_bounded_before_any_read(stack: Any, frames: str, rendered: str) -> None:
    path = FRAMES.format(uid(), uid(), uid(), frames) + rendered
    refused_without_aws(stack, "GET", path, "InvalidFrameList")


@pytest.mark.parametrize(
    "files",
    [
        [{"name": "huge.dcm", "size": 640 * 1024**3}],  # 10,000 part URLs, an open upload
        [{"name": f"{n}.dcm", "size": 4 * 1024**3} for n in range(16)],  # 1,024 part URLs
        [{"name": f"{n}.dcm", "size": 1} for n in range(1001)],  # over 1,000 files
    ],
)
def test_uploads_are_bounded_before_any_call(stack: Any, files: list[dict[str, Any]]) -> None:
    refused_without_aws(stack, "POST", "/uploads", "InvalidUpload", json={"files": files})
