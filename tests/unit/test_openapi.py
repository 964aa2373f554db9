"""chalicelib/openapi: the description against the app's routes and the code's definitions.

Both ways: every route the app registers is described and nothing else is; the document is
valid OpenAPI 3.1 (schemathesis' validator, then every operation loads); its patterns accept
what the code accepts; its media types and schemas are the code's. No AWS.
"""

from __future__ import annotations

from local.testenv import use_test_environment

use_test_environment()  # before the app is imported

import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

import jsonschema_rs  # noqa: E402
import pytest  # noqa: E402
import schemathesis  # noqa: E402
from pydicom.dataset import Dataset  # noqa: E402
from schemathesis.core.result import Ok  # noqa: E402

import app  # noqa: E402
from chalicelib.dicomweb.errors import BadRequest  # noqa: E402
from chalicelib.dicomweb.matching import validate_value  # noqa: E402
from chalicelib.dicomweb.media import FRAME_MEDIA_TYPES, OCTET_STREAM  # noqa: E402
from chalicelib.dicomweb.query import RESERVED  # noqa: E402
from chalicelib.dicomweb.rendering import RENDERED_TYPES, parse_window  # noqa: E402
from chalicelib.dicomweb.resources import is_valid_uid, parse_frame_list  # noqa: E402
from chalicelib.openapi.document import build  # noqa: E402
from chalicelib.routes.credentials import extract_api_key  # noqa: E402
from chalicelib.routes.qido import QIDO_RESOURCES  # noqa: E402
from chalicelib.routes.table import PUBLIC_ROUTES, served  # noqa: E402
from chalicelib.routes.table import ROUTES as ROUTE_TABLE  # noqa: E402
from chalicelib.routes.wire import error_body  # noqa: E402
from chalicelib.services.qido import matching_keys  # noqa: E402

DOC = build(ROUTE_TABLE, app.deps.settings)
ROUTES = served(app.app)  # the app's routes, without the 405 answers to other methods
INSTANCE = "/studies/{study}/series/{series}/instances/{instance}"


def operation(method: str, path: str) -> dict[str, Any]:
    op: dict[str, Any] = DOC["paths"][path][method.lower()]
    return op


def parameters(op: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Name -> parameter, $refs resolved."""
    out = {}
    for p in op.get("parameters", []):
        if "$ref" in p:
            p = DOC["components"]["parameters"][p["$ref"].rsplit("/", 1)[-1]]
        out[p["name"]] = p
    return out


def valid(schema: dict[str, Any], value: Any) -> bool:
    """Does ``value`` fit ``schema`` (a document schema, its $refs into components)?"""
    root = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    root["components"] = DOC["components"]
    return bool(jsonschema_rs.validator_for(root).is_valid(value))


# --- the routes -------------------------------------------------------------------------------


def test_every_route_is_described_and_nothing_else() -> None:
    described = {(m.upper(), p) for p, ms in DOC["paths"].items() for m in ms}
    assert described == set(ROUTES)
    assert {(r.method, r.path) for r in ROUTE_TABLE} == set(ROUTES)  # one table for both


def test_operation_ids_are_the_view_names() -> None:
    ids = [operation(m, p)["operationId"] for m, p in ROUTES]
    assert ids == [e.view_name for e in ROUTES.values()]
    assert len(set(ids)) == len(ids)


def test_path_parameters_are_the_route_variables() -> None:
    for (method, path), entry in ROUTES.items():
        declared = [n for n, p in parameters(operation(method, path)).items() if p["in"] == "path"]
        assert sorted(declared) == sorted(entry.view_args), (method, path)
        assert all(
            p["required"] for p in parameters(operation(method, path)).values() if p["in"] == "path"
        )


def test_scopes_and_security() -> None:
    for (method, path), entry in ROUTES.items():
        op = operation(method, path)
        if (method, path) in PUBLIC_ROUTES:
            assert op["security"] == [] and "401" not in op["responses"]
        else:
            assert "security" not in op  # the document's: any of the three schemes
            assert op["x-scope"] == entry.view_function.dicomweb_scope
            assert {"401", "403", "429", "503"} <= set(op["responses"])
    assert DOC["security"] == [{name: []} for name in DOC["components"]["securitySchemes"]]


def test_security_schemes_are_where_the_service_reads_the_key() -> None:
    for scheme in DOC["components"]["securitySchemes"].values():
        if scheme["type"] == "apiKey":
            assert scheme["in"] == "header"
            assert extract_api_key({scheme["name"]: "k"}) == "k"
        elif scheme["scheme"] == "basic":  # any user name, the key as the password
            assert scheme["type"] == "http"
            assert extract_api_key({"authorization": "Basic dXNlcjpr"}) == "k"  # user:k
        else:
            assert scheme == {**scheme, "type": "http", "scheme": "bearer"}
            assert extract_api_key({"authorization": "Bearer k"}) == "k"


# --- validity ---------------------------------------------------------------------------------


def test_it_is_valid_openapi_3_1_and_every_operation_loads() -> None:
    assert DOC["openapi"] == "3.1.0"
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(DOC)))
    schema.validate()
    results = list(schema.get_all_operations())
    assert all(isinstance(r, Ok) for r in results), [r for r in results if not isinstance(r, Ok)]
    assert len(results) == len(ROUTES)


def test_every_schema_is_valid_json_schema() -> None:
    def schemas(node: Any) -> Any:
        if isinstance(node, dict):
            if isinstance(node.get("schema"), dict):
                yield node["schema"]
            for value in node.values():
                yield from schemas(value)
        elif isinstance(node, list):
            for value in node:
                yield from schemas(value)

    found = [*schemas(DOC["paths"]), *schemas(DOC["components"])]
    found += list(DOC["components"]["schemas"].values())
    assert len(found) > 100
    for schema in found:
        valid(schema, None)  # compiles: patterns, $refs


# --- what the code accepts and answers --------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["1", "1.2.840.10008.1.2", "1.02.3", "0" * 64, "1.", ".1", "1..2", "1a", "", "1" * 65]
)
def test_uid_pattern_is_the_services(value: str) -> None:
    schema = parameters(operation("GET", INSTANCE))["instance"]["schema"]
    assert valid(schema, value) == is_valid_uid(value)


DATES = ["", "*", "20250101", "20250101-", "-20250101", "20250101-20250131", "2025", "2025*"]
DATES += ["-", "20250101-20250131-", "x"]
TIMES = ["10", "1010", "10:10:10.123", "101010.5-", "-11", "1", "10-x", "1010*"]


@pytest.mark.parametrize(
    ("keyword", "value"),
    [("StudyDate", v) for v in DATES] + [("StudyTime", v) for v in TIMES],
)
def test_date_and_time_patterns_are_the_services(keyword: str, value: str) -> None:
    schema = DOC["components"]["parameters"][keyword]["schema"]
    try:
        validate_value("DA" if keyword == "StudyDate" else "TM", value, keyword)
        accepted = True
    except BadRequest:
        accepted = False
    assert valid(schema, value) == accepted


@pytest.mark.parametrize("value", ["1", "1,2,3", "999999", "1,", ",1", "a", "1 2", "1234567"])
def test_frame_list_pattern_is_the_services(value: str) -> None:
    schema = parameters(operation("GET", INSTANCE + "/frames/{frames}"))["frames"]["schema"]
    try:
        parse_frame_list(value)
        accepted = True
    except BadRequest:
        accepted = False
    assert valid(schema, value) == accepted  # (frame 0 fits the pattern: a 400, "from 1")


@pytest.mark.parametrize(
    "value", ["40,400", "-1.5,2.5,sigmoid", "40,400,linear_exact", "40", "40,400,cubic", "a,b"]
)
def test_window_pattern_admits_what_the_service_parses(value: str) -> None:
    schema = parameters(operation("GET", INSTANCE + "/rendered"))["window"]["schema"]
    try:
        parse_window(value)
        accepted = True
    except BadRequest:
        accepted = False
    assert valid(schema, value) == accepted


def test_qido_parameters_are_the_reserved_ones_and_the_resources_matching_keys() -> None:
    searches = {p for (m, p), e in ROUTES.items() if e.view_name.startswith("search_for_")}
    assert set(QIDO_RESOURCES) == searches
    for path, resource in QIDO_RESOURCES.items():
        names = {n for n, p in parameters(operation("GET", path)).items() if p["in"] == "query"}
        keys = set(matching_keys(resource))
        assert names == set(RESERVED) | keys, path


def test_rendered_and_frame_media_types_are_the_services() -> None:
    for kind in ("rendered", "thumbnail"):
        content = operation("GET", f"{INSTANCE}/{kind}")["responses"]["200"]["content"]
        assert list(content) == list(RENDERED_TYPES)
    content = operation("GET", INSTANCE + "/frames/{frames}")["responses"]["200"]["content"]
    part_types = {re.search(r'type="([^"]+)"', m).group(1) for m in content}  # type: ignore[union-attr]
    assert part_types == {OCTET_STREAM, *FRAME_MEDIA_TYPES.values()}


def test_the_error_body_fits_its_schema() -> None:
    error = {"$ref": "#/components/schemas/Error"}
    assert valid(error, error_body(404, "NotFound", "instance not found"))
    assert not valid(error, {"Code": "UnsupportedMediaType", "Message": "x"})  # Chalice's own


def test_a_store_response_fits_the_dicom_json_schema() -> None:
    ref = Dataset()
    ref.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ref.ReferencedSOPInstanceUID = "1.2.3"
    ref.RetrieveURL = "http://h/studies/1/series/2/instances/1.2.3"
    failed = Dataset()
    failed.FailureReason = 0xC000
    ds = Dataset()
    ds.RetrieveURL = "http://h/studies/1"
    ds.ReferencedSOPSequence = [ref]
    ds.FailedSOPSequence = [failed]
    ds.PatientName = "Doe^John"
    ds.PixelSpacing = [0.5, 0.5]
    dicom_json = {"$ref": "#/components/schemas/DicomJsonDataset"}
    assert valid(dicom_json, json.loads(json.dumps(ds.to_json_dict())))
    assert not valid(dicom_json, {"patientname": {"vr": "PN"}})
    assert not valid(dicom_json, {"00100010": {"Value": ["x"]}})  # vr is required


def test_it_builds_without_numpy_or_pillow() -> None:
    """The document is built in the lean Lambda: it must not need the imaging libraries."""
    code = """
import sys
sys.modules["numpy"] = None
sys.modules["PIL"] = None
from chalicelib.openapi.document import build
from chalicelib.routes.table import ROUTES
assert len(build(ROUTES)["paths"]) == len({r.path for r in ROUTES})
assert "numpy" not in sys.modules or sys.modules["numpy"] is None
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
