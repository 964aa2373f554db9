"""services/imports.py over moto's S3: the tenant's rejected S3-drop imports, a page at a
time, with the FailureReason read from the key."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.dicomweb.errors import BadRequest, FailureReason
from chalicelib.dicomweb.media import JSON
from chalicelib.services.answers import Body
from chalicelib.services.imports import RejectedImports
from chalicelib.storage.keys import rejected_key
from chalicelib.storage.objects import S3ObjectStore

T = "t1"


def doc(body: Body) -> Any:
    assert (body.status, body.media_type) == (200, JSON)
    content = body.parts[0].content
    assert isinstance(content, bytes)
    return json.loads(content)


def test_pages_of_the_tenants_rejections(store: S3ObjectStore) -> None:
    for n in range(3):
        store.put(rejected_key(T, FailureReason.CANNOT_UNDERSTAND, f"f{n}.dcm"), b"x" * n, "a/b")
    store.put(rejected_key("t2", FailureReason.CANNOT_UNDERSTAND, "theirs.dcm"), b"", "a/b")
    imports = RejectedImports(store)
    first = doc(imports.list_rejected(T, "2", None))
    assert [r["name"] for r in first["rejected"]] == ["f0.dcm", "f1.dcm"]
    assert first["rejected"][1]["failureReason"] == FailureReason.CANNOT_UNDERSTAND
    assert first["rejected"][1]["size"] == 1 and first["rejected"][1]["rejectedAt"]
    rest = doc(imports.list_rejected(T, None, first["next"]))
    assert [r["name"] for r in rest["rejected"]] == ["f2.dcm"] and rest["next"] is None


def test_parameters_it_cannot_use_are_400(store: S3ObjectStore) -> None:
    imports = RejectedImports(store)
    for limit, start in (("x", None), ("", None), (None, "a\x00b"), (None, "x" * 1100)):
        with pytest.raises(BadRequest):
            imports.list_rejected(T, limit, start)
    assert doc(imports.list_rejected(T, "0", None)) == {"rejected": [], "next": None}
