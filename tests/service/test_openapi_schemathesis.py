"""Schemathesis against the local stack, driven by the service's own ``/openapi.json``.

One stack for the module (moto in-process, real HTTP through the local gateway), seeded with a
study of two series (single-frame CT, multi-frame MR), a second study that the DELETE
operations may remove, and two presigned uploads (a single PUT and a multipart one). Half the
positive cases address those real resources instead of generated UIDs (path parameters, and
WADO-URI's UIDs), so retrieves, metadata, frames, rendering and uploads run on real data, not
only into 404s; a third of the positive cases carry one ``EDGES`` value (digits ``int()``
cannot read, NaN, infinities), which found 500s the generators seldom reach.

Bounded and reproducible: a fixed seed, deterministic generation, no example database,
``SCHEMATHESIS_EXAMPLES`` examples per operation (default 10: about 40 s for the module, with
or without ``-n 2``), positive and negative. ``SCHEMATHESIS_COVERAGE=1`` adds the coverage
phase (every parameter's boundaries and invalid values: about 6,000 requests, 5 minutes).

The operations are parametrized at collection, from the document the app serves through the
local gateway (called as WSGI, before any stack runs); ``test_the_stack_serves_the_description_
tested`` checks the running stack serves the same. (``schemathesis.pytest.from_fixture`` fails
under pytest 9.2: it sets ``request.node._nodeid``, which pytest 9.2 no longer has; and pytest
9.2 drops the operation from the eager items' ids, so a failure names its operation in its
message.)

Checks: no 5xx, a documented status, Content-Type, headers and body (JSON bodies: errors, DICOM
JSON, the change feed, uploads), schema-invalid input refused with a 4xx, the key enforced, and
(coverage phase) 405 with Allow for a method a path does not declare.
Off, because the DICOM standard or the platform says otherwise (each explained at ``CHECKS``
and ``CONFIG``): ``positive_data_acceptance``, undeclared parameters in negative cases
(``allow-extra-parameters``), and the checks that need links between operations.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis.config import SchemathesisConfig
from schemathesis.transport.requests import REQUESTS_TRANSPORT
from schemathesis.transport.serialization import serialize_binary

from chalicelib.dicomweb.resources import is_valid_uid
from local.gateway import LocalGateway
from local.harness import InProcessStack
from tests.conftest import KEY, OTHER_KEY, OTHER_TENANT, TENANT
from tests.factories import dataset, multipart_body, to_bytes, uid
from tests.service.helpers import MULTIPART

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "10"))
#: The coverage phase (every parameter's boundaries and invalid values, deterministically) is
#: about 4,000 requests, minutes on 2 cores: ``SCHEMATHESIS_COVERAGE=1`` runs it.
COVERAGE = os.environ.get("SCHEMATHESIS_COVERAGE", "") == "1"
SEED = 20_251_013

#: Checks as the DICOM standard and this platform have them.
CHECKS: dict[str, Any] = {
    "not_a_server_error": {"enabled": True},
    "status_code_conformance": {"enabled": True},
    "content_type_conformance": {"enabled": True},
    "response_headers_conformance": {"enabled": True},
    "response_schema_conformance": {"enabled": True},
    # Schema-invalid input is a 4xx (negative cases only mutate declared parameters, below).
    "negative_data_rejection": {"enabled": True},
    "missing_required_header": {"enabled": True},
    "ignored_auth": {"enabled": True},
    # Off: "schema-valid input is accepted (2xx)" does not hold for DICOM. A schema describes a
    # request's syntax, not its DICOM content: a STOW body of any bytes fits the schema and is
    # answered 409 with FailureReason 0xC000 (or 400 for a multipart body without a boundary),
    # a frame number beyond the instance's frames, a window width below 1 for the linear
    # function, or a transfer syntax the service cannot convert to are 400 or 406 as PS3.18
    # 8.3.5.1 and 8.7 require; JSON Schema cannot express them.
    "positive_data_acceptance": {"enabled": False},
    # A method the path does not declare: 405 with Allow (routes/table.py declares the other
    # methods of GET, POST, PUT, DELETE, PATCH to API Gateway for it; the coverage phase only,
    # whose unexpected methods are those five: any other is API Gateway's own 404).
    "unsupported_method": {"enabled": True},
    # Off: they need links between operations (a created resource's URL); the description has
    # none, and resources are created by STOW bodies that JSON Schema cannot generate.
    "use_after_free": {"enabled": False},
    "ensure_resource_availability": {"enabled": False},
    # Off: tenant isolation is proven by tests/service/test_isolation.py with two real keys;
    # this check needs an identity model the description does not declare.
    "object_level_authorization": {"enabled": False},
}

CONFIG = {
    "seed": SEED,
    "generation": {
        "mode": "all",
        "max-examples": EXAMPLES,
        "deterministic": True,
        "database": "none",
        # Off: a negative case would add undeclared query parameters and expect a 4xx, but an
        # unknown QIDO parameter must be ignored, with a Warning (PS3.18 8.3.4.1), as must
        # unknown WADO-URI parameters (PS3.18 9) and any other query parameter of this API.
        "allow-extra-parameters": False,
        # The key comes from the auth config; a generated (mutated) key would only test 401,
        # which ``ignored_auth`` does on purpose.
        "with-security-parameters": False,
    },
    "phases": {
        "examples": {"enabled": False},  # the description carries no examples
        "coverage": {
            "enabled": COVERAGE,
            "unexpected-methods": ["get", "post", "put", "delete", "patch"],
        },
        "fuzzing": {"enabled": True},
        "stateful": {"enabled": False},  # no links (see the checks above)
    },
    "checks": CHECKS,
    "auth": {"openapi": {"apikey": {"api_key": KEY}}},
    "request-timeout": 30,
    # The 303 of a large answer points to a presigned URL: the check is of this API's answer.
    "max-redirects": 0,
}


@dataclass(frozen=True)
class Seeded:
    stack: InProcessStack
    #: real path parameters (and WADO-URI UIDs): one mapping per target, chosen by the hook
    reads: tuple[dict[str, str], ...]
    deletes: tuple[dict[str, str], ...]


def _store(stack: InProcessStack, datasets: list[Any]) -> None:
    r = stack.post(
        "/studies",
        data=multipart_body([to_bytes(ds) for ds in datasets]),
        headers={"Content-Type": MULTIPART},
    )
    assert r.status_code == 200, r.text


def _upload(stack: InProcessStack, size: int) -> str:
    r = stack.post("/uploads", json={"files": [{"name": "a.dcm", "size": size}]})
    assert r.status_code == 201, r.text
    return str(r.json()["upload"])


@pytest.fixture(scope="module")
def seeded() -> Iterator[Seeded]:
    from moto import mock_aws

    from local.harness import in_process_stack, prepared_app

    with (
        mock_aws(),
        prepared_app({TENANT: KEY, OTHER_TENANT: OTHER_KEY}) as module,
        in_process_stack(module, KEY) as stack,
    ):
        study, ct, mr = uid(), uid(), uid()
        ct1, ct2 = dataset(study=study, series=ct), dataset(study=study, series=ct)
        mri = dataset(study=study, series=mr, modality="MR", frames=3, bits=8)
        victim = dataset()
        _store(stack, [ct1, ct2, mri, victim])
        stack.drain()
        single, parts = _upload(stack, 1000), _upload(stack, 65 * 1024 * 1024)
        reads = tuple(
            {
                "study": study,
                "series": ds.SeriesInstanceUID,
                "instance": ds.SOPInstanceUID,
                "frames": frames,
                "tag": "7FE00010",
                "upload": upload,
                "index": "0",
                "studyUID": study,
                "seriesUID": ds.SeriesInstanceUID,
                "objectUID": ds.SOPInstanceUID,
            }
            for ds, frames, upload in ((ct1, "1", single), (mri, "2", parts), (mri, "1,3", parts))
        )
        deletes = (
            {
                "study": victim.StudyInstanceUID,
                "series": victim.SeriesInstanceUID,
                "instance": victim.SOPInstanceUID,
            },
        )
        CURRENT.append(Seeded(stack, reads, deletes))
        try:
            yield CURRENT[-1]
        finally:
            CURRENT.clear()


@REQUESTS_TRANSPORT.serializer("multipart/related", "application/dicom")
def _stow_body(ctx: Any, value: Any) -> dict[str, Any]:
    """STOW bodies: the generated bytes, or (for every other length) a valid Part 10 instance of
    a new study, so both the parser's refusals and the stored answer (200) are exercised. A
    multipart body gets its boundary in the Content-Type, as a client sends it."""
    data = serialize_binary(value)
    if len(data) % 2 == 0:
        data = to_bytes(dataset())
    media_type = ctx.case.media_type or "application/dicom"
    if not media_type.startswith("multipart/"):
        return {"data": data}
    return {
        "data": multipart_body([data]),
        "headers": {"Content-Type": f"{media_type}; boundary=test-boundary"},
    }


def _served_description() -> dict[str, Any]:
    """``GET /openapi.json`` from the local gateway in front of the app, as the stack serves it
    (called as WSGI: the operations are parametrized at collection, before any stack runs;
    ``test_the_stack_serves_the_description_tested`` compares it with the running stack's)."""
    from werkzeug.test import Client

    import app

    settings = app.deps.settings
    gateway = LocalGateway(app.app, settings.request_limit, settings.payload_limit)
    response = Client(gateway).get("/openapi.json", headers={"Host": "collection"})
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json
    return document


DESCRIPTION = _served_description()
schema = schemathesis.openapi.from_dict(DESCRIPTION, config=SchemathesisConfig.from_dict(CONFIG))
#: The seeded stack of the running module (set by the ``seeded`` fixture, read by the hook).
CURRENT: list[Seeded] = []


#: Values a schema's generators seldom produce and the code once mishandled (found after the
#: first runs, now kept in them): digits ``str.isdigit`` accepts and ``int`` does not, and
#: numbers ``float`` reads that are not finite. One is put into some positive cases.
EDGES = ("\u00b2", "\u0663", "nan", "inf", "-inf", "1e999", "-0", "0", "nan,10", "1,inf", "")
PATH_EDGES = ("\u00b2", "\u0663", "0", "1e999", "nan")
WADO_URI = ("studyUID", "seriesUID", "objectUID")


def _positive(case: Any) -> bool:
    return case.meta is None or case.meta.generation.mode.is_positive


@schema.hook
def flatmap_case(context: Any, case: Any) -> st.SearchStrategy[Any]:
    """Half the positive cases address seeded resources instead of generated UIDs (paths, and
    WADO-URI's query); a third of them then get one ``EDGES`` value."""
    if not CURRENT or not _positive(case):
        return st.just(case)
    seeded = CURRENT[-1]
    path = dict(case.path_parameters or {})
    query = dict(case.query or {})
    wado_uri = all(is_valid_uid(str(query.get(n, ""))) for n in WADO_URI)
    can_address = bool(path) or wado_uri
    real = seeded.deletes if case.method.upper() == "DELETE" else seeded.reads
    edges = [("query", n, v) for n in query for v in EDGES]
    edges += [("path", n, v) for n in path for v in PATH_EDGES]

    def edit(chosen: tuple[dict[str, str] | None, tuple[str, str, str] | None]) -> Any:
        values, edge = chosen
        if values is not None:
            case.path_parameters = {n: values.get(n, v) for n, v in path.items()} or None
            if wado_uri and not path:
                case.query = {**query, **{n: values[n] for n in WADO_URI}}
        if edge is not None:
            location, name, value = edge
            if location == "query":
                case.query = {**case.query, name: value}
            else:
                case.path_parameters = {**case.path_parameters, name: value}
        return case

    addresses = st.one_of(st.none(), st.sampled_from(real)) if can_address else st.none()
    maybe_edge = st.integers(0, 2).flatmap(
        lambda i: st.sampled_from(edges) if edges and i == 0 else st.none()
    )
    return st.tuples(addresses, maybe_edge).map(edit)


@schema.parametrize()
def test_the_api_meets_its_description(case: Any, seeded: Seeded) -> None:
    case.call_and_validate(base_url=seeded.stack.url)


def test_the_stack_serves_the_description_tested(seeded: Seeded) -> None:
    served = seeded.stack.http.get(seeded.stack.url + "/openapi.json").json()
    assert served["servers"] == [{"url": seeded.stack.url}]
    assert {**served, "servers": None} == {**DESCRIPTION, "servers": None}


def test_the_description_is_public_json_with_cors(stack: InProcessStack) -> None:
    r = stack.http.get(stack.url + "/openapi.json", headers={"apikey": ""})
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    document = json.loads(r.content)
    assert document["openapi"].startswith("3.1")
    assert document["servers"] == [{"url": stack.url}]


def test_every_other_route_still_needs_a_key(stack: InProcessStack) -> None:
    r = stack.http.get(stack.url + "/studies", headers={"apikey": ""})
    assert r.status_code == 401
