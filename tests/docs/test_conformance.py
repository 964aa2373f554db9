"""docs/conformance.md against the code.

Every table of the conformance statement marked ``<!-- table:NAME -->`` is checked here: against
the definition it documents, both ways (nothing in the table the code lacks, nothing in the code
the table omits), where the code has one definition; row by row through the code where the
table documents behaviour (content negotiation, STOW Content-Types, failure reasons, matching
kinds). No AWS: only pure functions, module constants and the routes registered on the app.
"""

from __future__ import annotations

from local.testenv import use_test_environment

use_test_environment()  # before the app is imported (Powertools reads it at import)

import importlib  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import pytest  # noqa: E402
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword  # noqa: E402
from pydicom.uid import UID  # noqa: E402

import app  # noqa: E402
from chalicelib.config import Settings  # noqa: E402
from chalicelib.dicomweb import (  # noqa: E402
    attributes,
    rendering,
    stow_response,
)
from chalicelib.dicomweb.dicomjson import tag_hex  # noqa: E402
from chalicelib.dicomweb.errors import (  # noqa: E402
    BadRequest,
    DicomWebError,
    FailureReason,
    NotAcceptable,
)
from chalicelib.dicomweb.matching import value_matches  # noqa: E402
from chalicelib.dicomweb.media import (  # noqa: E402
    DEFAULT_TRANSFER_SYNTAX,
    FRAME_MEDIA_TYPES,
    negotiate_dicom,
    negotiate_frames,
    parse_accept,
    prefers_zip,
    wants_dicom_xml,
)
from chalicelib.dicomweb.query import RESERVED, Query  # noqa: E402
from chalicelib.routes import credentials as auth  # noqa: E402
from chalicelib.routes import table as route_table  # noqa: E402
from chalicelib.routes.http import CORS_HEADERS  # noqa: E402
from chalicelib.routes.qido import QIDO_RESOURCES  # noqa: E402
from chalicelib.services import qido, qido_search, wado  # noqa: E402
from chalicelib.services.ports import StorageBusy, StorageError, StoredObject  # noqa: E402
from chalicelib.services.stow import InstancePart, Stow, instance_parts  # noqa: E402
from chalicelib.services.transcode import TARGETS, can_write  # noqa: E402
from chalicelib.storage.tenants import ALL_SCOPES  # noqa: E402
from infra.template import GATEWAY_RESPONSES  # noqa: E402
from tests.factories import instance_bytes, multipart_body, uid  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "conformance.md"
TEXT = DOC.read_text(encoding="utf-8")
CHALICELIB = ROOT / "chalicelib"

LEVEL = {"study": "STUDY", "series": "SERIES", "instance": "INSTANCE"}
#: The QIDO resource key (``services/qido.LEVELS``) each route's view passes (routes/qido.py),
#: as the OpenAPI description defines it.
RESOURCE_KEYS = QIDO_RESOURCES
#: A resource searching one level only, to read that level's matching keys and attributes.
SINGLE_LEVEL = {"STUDY": "studies", "SERIES": "study-series", "INSTANCE": "series-instances"}
#: Returned with every result that has them (``qido_search.Search.shape``), whatever the level.
ALWAYS = {"StudyInstanceUID", "SeriesInstanceUID"}
COMPUTED = {
    "STUDY": attributes.COMPUTED_STUDY,
    "SERIES": attributes.COMPUTED_SERIES,
    "INSTANCE": attributes.COMPUTED_INSTANCE,
}


# --- reading the document -------------------------------------------------------------------


def _cells(line: str) -> list[str]:
    parts = re.split(r"(?<!\\)\|", line.strip())
    assert parts[0] == "" and parts[-1] == "", f"not a table row: {line!r}"
    return [p.strip().replace("\\|", "|") for p in parts[1:-1]]


def table(name: str) -> list[dict[str, str]]:
    """The rows of the table after ``<!-- table:name -->``, as {header: cell}."""
    lines = TEXT.splitlines()
    marker = f"<!-- table:{name} -->"
    assert lines.count(marker) == 1, f"{marker} must occur once in {DOC.name}"
    i = lines.index(marker) + 1
    while not lines[i].strip():
        i += 1
    header = _cells(lines[i])
    assert set(lines[i + 1].replace(" ", "")) <= set("|-:"), f"{name}: no separator row"
    rows = []
    for line in lines[i + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        assert len(cells) == len(header), f"{name}: {line!r}"
        rows.append(dict(zip(header, cells, strict=True)))
    assert rows, f"{name}: empty table"
    return rows


def plain(cell: str) -> str:
    return cell.replace("`", "").strip()


def without_note(cell: str) -> str:
    """'single part, 1.2 (converted)' -> 'single part, 1.2'."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", plain(cell))


def source(*parts: str) -> str:
    return CHALICELIB.joinpath(*parts).read_text(encoding="utf-8")


CHECKED = {
    "routes",
    "stow-content-types",
    "stow-private-elements",
    "failure-reasons",
    "qido-resources",
    "qido-params",
    "qido-study",
    "qido-series",
    "qido-instance",
    "rendered-params",
    "rendered-types",
    "transcode-targets",
    "frame-media-types",
    "negotiation",
    "wado-uri-params",
    "errors",
    "limits",
    "api-key-headers",
    "scopes",
    "cors",
}


def test_every_marked_table_is_checked() -> None:
    assert set(re.findall(r"<!-- table:([\w-]+) -->", TEXT)) == CHECKED


# --- resources ------------------------------------------------------------------------------


def app_routes() -> dict[tuple[str, str], Any]:
    return route_table.served(app.app)  # without the 405 answers to other methods


def test_routes_are_the_apps_routes_with_their_scopes() -> None:
    documented = {(r["method"], plain(r["path"])): r["scope"] for r in table("routes")}
    registered = {
        key: entry.view_function.dicomweb_scope or "none" for key, entry in app_routes().items()
    }
    assert documented == registered
    assert {k for k, scope in registered.items() if scope == "none"} == route_table.PUBLIC_ROUTES


def test_scopes_are_the_scopes_keys_carry_and_routes_need() -> None:
    documented = {plain(r["scope"]) for r in table("scopes")}
    assert documented == set(ALL_SCOPES)
    needed = {e.view_function.dicomweb_scope for e in app_routes().values()}
    assert documented == needed - {None}  # None: a public route (table.PUBLIC_ROUTES)


# --- STOW-RS --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "row", table("stow-content-types"), ids=lambda r: r["request Content-Type"]
)
def test_stow_content_types(row: dict[str, str]) -> None:
    content_type = plain(row["request Content-Type"])
    header = None if content_type == "(none)" else content_type.replace("boundary=B", "boundary=b")
    body = multipart_body([instance_bytes()], boundary="b")
    answer = plain(row["answer"])
    if answer.startswith("accepted"):
        parts = instance_parts(header, body)
        assert len(parts) == 1
    else:
        with pytest.raises(DicomWebError) as raised:
            instance_parts(header, body)
        assert raised.value.status == int(answer.split()[0])


def test_stow_content_type_checks_are_the_ones_stow_runs() -> None:
    """The table above is run through ``instance_parts``: make sure STOW still uses it."""
    assert "instance_parts(" in inspect.getsource(Stow.store_instances)


def test_stow_private_elements_are_the_ones_every_answer_carries() -> None:
    """The table of the private block, against ``stow_response``'s constants and against an
    answer with a stored part, an unreadable one and an empty single-part body."""
    rows = {plain(r["tag"]): r for r in table("stow-private-elements")}
    group = f"{stow_response.PRIVATE_GROUP:04X}"
    creator = f"({group},0010)"
    position = f"({group},10{stow_response.PART_POSITION:02X})"
    text = f"({group},10{stow_response.FAILURE_TEXT:02X})"
    assert set(rows) == {creator, position, text}
    assert plain(rows[creator]["name"]) == f"Private Creator {stow_response.PRIVATE_CREATOR}"
    assert rows[position]["VR"] == stow_response.PART_POSITION_VR
    assert rows[text]["VR"] == stow_response.FAILURE_TEXT_VR
    result = Stow(FakeStore()).store_parts(
        "t1", [InstancePart(b"x"), InstancePart(instance_bytes())], None
    )
    doc = result.to_dicom_json("https://x", None)
    failed, referenced = doc["00081198"]["Value"], doc["00081199"]["Value"]

    def private(items: list[dict[str, Any]]) -> set[str]:
        """The private tags every one of the items carries."""
        return set.intersection(
            *({f"({k[:4]},{k[4:]})" for k in item if k.startswith(group)} for item in items)
        )

    carried = {
        "every item": private(failed + referenced),
        "FailedSOPSequence items": private(failed),
    }
    assert carried == {"every item": {creator, position}, "FailedSOPSequence items": set(rows)}
    for tag, row in rows.items():
        assert tag in carried[row["in"]], tag
    with pytest.raises(BadRequest) as raised:
        instance_parts("application/dicom", b"")
    assert raised.value.code == "InvalidRequestBody"


def failure_rows() -> dict[str, dict[str, str]]:
    return {plain(r["name in the code"]): r for r in table("failure-reasons")}


def test_failure_reasons_are_the_codes_failure_reasons() -> None:
    rows = failure_rows()
    assert set(rows) == {m.name for m in FailureReason}
    for name, row in rows.items():
        hex_value, decimal = re.fullmatch(
            r"(0x[0-9A-F]{4}) \((\d+)\)", plain(row["Failure Reason"])
        ).groups()
        assert int(hex_value, 16) == int(decimal) == FailureReason[name].value, name


def test_failure_reasons_marked_produced_are_the_ones_the_code_raises() -> None:
    used = set()
    for path in CHALICELIB.rglob("*.py"):
        if path.name != "errors.py" or path.parent.name != "dicomweb":
            used |= set(re.findall(r"FailureReason\.([A-Z_]+)", path.read_text(encoding="utf-8")))
    produced = {name for name, row in failure_rows().items() if plain(row["produced"]) == "yes"}
    assert produced == used


class FakeStore:
    """Just ``put``, as STOW uses it; fails as storage does when told to."""

    def __init__(self, error: StorageError | None = None) -> None:
        self.error = error
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        if self.error:
            raise self.error
        self.objects[key] = data
        return StoredObject(key, len(data), "etag")


def test_stow_produces_each_documented_failure_reason_and_status() -> None:
    study = uid()
    cases = [
        (FakeStore(), [InstancePart(b"not dicom")], None),
        (FakeStore(), [InstancePart(instance_bytes(), "application/octet-stream")], None),
        (FakeStore(), [InstancePart(instance_bytes(study=uid()))], study),
        (FakeStore(StorageBusy("SlowDown")), [InstancePart(instance_bytes())], None),
        (FakeStore(StorageError("AccessDenied")), [InstancePart(instance_bytes())], None),
    ]
    reasons = set()
    for store, parts, study_in_url in cases:
        result = Stow(store).store_parts("t1", parts, study_in_url)
        assert result.status == 409 and not result.stored
        reasons |= {f.reason.name for f in result.failed}
    produced = {name for name, row in failure_rows().items() if plain(row["produced"]) == "yes"}
    assert reasons == produced
    mixed = Stow(FakeStore()).store_parts(
        "t1",
        [InstancePart(instance_bytes()), InstancePart(b"x")],
        None,
    )
    assert mixed.status == 202
    stored = Stow(FakeStore()).store_parts("t1", [InstancePart(instance_bytes())], None)
    assert stored.status == 200


# --- QIDO-RS --------------------------------------------------------------------------------


def test_qido_resources_and_the_levels_they_search() -> None:
    rows = {plain(r["resource"]): r for r in table("qido-resources")}
    searches = {
        p
        for (m, p), e in app_routes().items()
        if m == "GET" and e.view_name.startswith("search_for")
    }
    assert set(rows) == searches == set(RESOURCE_KEYS)
    assert set(RESOURCE_KEYS.values()) == set(qido.LEVELS)
    for path, row in rows.items():
        levels = tuple(LEVEL[w.strip()] for w in row["levels searched"].split(","))
        assert levels == qido.LEVELS[RESOURCE_KEYS[path]], path


def test_qido_reserved_parameters() -> None:
    assert {plain(r["parameter"]) for r in table("qido-params")} == RESERVED


SAMPLES = {  # a value, another outside the range, and a range around the first
    "DA": ("20200115", "20210115", "20200101-20200131"),
    "TM": ("101500", "111500", "100000-103000"),
    "DT": ("20200115101500", "20210115101500", "20200101-20201231"),
    "UI": ("1.2.3", "1.2.4", "1.2.1-1.2.9"),
    "PN": ("SMITH^JOHN", "DOE^JANE", "A-Z"),
}


def matching_kinds(vr: str) -> set[str]:
    """Which kinds of matching ``matching.value_matches`` supports for a VR, found by trying."""
    a, b, rng = SAMPLES.get(vr, ("AB1", "CD2", "AA0-ZZ9"))

    def match(query: str, candidate: str, fuzzy: bool = False) -> bool:
        try:
            return value_matches(vr, query, [candidate], fuzzy, "X")
        except BadRequest:
            return False

    kinds = set()
    if match(a, a) and not match(a, b):
        kinds.add("single value")
    if match("", a) and match("*", a):
        kinds.add("universal")
    if match(a[:2] + "*", a) and match(a[0] + "?" + a[2:], a) and not match(a[:2] + "*", b):
        kinds.add("wildcard")
    if match(rng, a) and not match(rng, b):
        kinds.add("range")
    if match(f"{b}\\{a}", a) and match(f"{b},{a}", a):
        kinds.add("list of UIDs")
    if any(c.isalpha() for c in a) and match(a.lower(), a):
        kinds.add("case-insensitive")
    if match(a[:3].lower(), a, fuzzy=True) and not match(a[:3].lower(), a):
        kinds.add("fuzzy")
    return kinds


def level_rows(level: str) -> dict[str, dict[str, str]]:
    return {plain(r["keyword"]): r for r in table(f"qido-{level.lower()}")}


def everything() -> dict[str, Any]:
    """DICOM JSON holding every attribute of every level (QIDO's shape keeps what it returns)."""
    keywords = set(ALWAYS)
    for level in LEVEL.values():
        keywords |= set(attributes.STORED[level]) | set(COMPUTED[level]) | set(level_rows(level))
    return {tag_hex(k): {"vr": "UN", "Value": ["x"]} for k in keywords}


def returned(resource: str, query: Query) -> set[str]:
    """Keywords QIDO's result shaping keeps for a resource, out of every attribute."""
    shaped = qido_search.Search(query, resource).shape(everything())
    return {keyword_for_tag(int(tag, 16)) for tag in shaped}


@pytest.mark.parametrize("level", list(LEVEL.values()))
def test_qido_level_table_columns(level: str) -> None:
    for keyword, row in level_rows(level).items():
        tag = tag_for_keyword(keyword)
        assert tag is not None, keyword
        assert plain(row["tag"]) == f"({tag >> 16:04X},{tag & 0xFFFF:04X})", keyword
        assert plain(row["VR"]) == dictionary_VR(tag), keyword


@pytest.mark.parametrize("level", list(LEVEL.values()))
def test_qido_matching_keys_and_kinds(level: str) -> None:
    rows = level_rows(level)
    keys = {k for k, r in rows.items() if plain(r["matching"]) != "—"}
    assert keys == set(qido.matching_keys(SINGLE_LEVEL[level]))
    for keyword in keys:
        documented = {k.strip() for k in plain(rows[keyword]["matching"]).split(",")}
        assert documented == matching_kinds(dictionary_VR(tag_for_keyword(keyword))), keyword


def test_no_sequence_is_a_matching_key_and_dotted_paths_are_unknown() -> None:
    from chalicelib.dicomweb.query import parse_query

    for level in LEVEL.values():
        for keyword in qido.matching_keys(SINGLE_LEVEL[level]):
            assert dictionary_VR(tag_for_keyword(keyword)) != "SQ", keyword
    query = parse_query({"ReferencedStudySequence.StudyInstanceUID": ["1.2"]}, 100, 1000)
    assert not query.filters and query.unknown


@pytest.mark.parametrize("level", list(LEVEL.values()))
def test_qido_return_attributes(level: str) -> None:
    rows = level_rows(level)
    kind = {k: plain(r["returned"]) for k, r in rows.items()}
    resource = SINGLE_LEVEL[level]
    assert {k for k, v in kind.items() if v == "computed"} == set(COMPUTED[level])
    default = {k for k, v in kind.items() if v in ("default", "computed")}
    assert returned(resource, Query()) == default | ALWAYS
    assert returned(resource, Query(include_all=True)) == set(rows) | ALWAYS
    for keyword in (k for k, v in kind.items() if v == "includefield"):
        assert keyword in returned(resource, Query(includefield=(keyword,))), keyword


def test_qido_resources_return_and_match_what_their_levels_do() -> None:
    for row in table("qido-resources"):
        resource = RESOURCE_KEYS[plain(row["resource"])]
        levels = [LEVEL[w.strip()] for w in row["levels searched"].split(",")]
        default: set[str] = set(ALWAYS)
        keys: set[str] = set()
        for level in levels:
            for keyword, r in level_rows(level).items():
                if plain(r["returned"]) in ("default", "computed"):
                    default.add(keyword)
                if plain(r["matching"]) != "—":
                    keys.add(keyword)
        assert returned(resource, Query()) == default, resource
        assert set(qido.matching_keys(resource)) == keys, resource


# --- transfer syntaxes, media types, negotiation --------------------------------------------


def test_transcode_targets() -> None:
    rows = {plain(r["transfer syntax UID"]): r for r in table("transcode-targets")}
    assert set(rows) == TARGETS
    for ts, row in rows.items():
        assert plain(row["name"]).replace(" (the default)", "") == UID(ts).name, ts
    defaults = [ts for ts, r in rows.items() if "(the default)" in r["name"]]
    assert defaults == [DEFAULT_TRANSFER_SYNTAX]


def test_frame_media_types() -> None:
    rows = table("frame-media-types")
    assert {plain(r["transfer syntax UID"]): plain(r["frame media type"]) for r in rows} == (
        FRAME_MEDIA_TYPES
    )
    for row in rows:
        assert plain(row["name"]) == UID(plain(row["transfer syntax UID"])).name


def _dicom_answer(choice: Any) -> str:
    if choice is None:
        return "406"
    shape = "multipart" if choice.multipart else "single part"
    syntax = "as stored" if choice.transfer_syntax == "*" else choice.transfer_syntax
    return f"{shape}, {syntax}"


def negotiate(resource: str, stored: str, accept_header: str) -> str:
    """What the code answers, in the table's words."""
    accept = parse_accept(accept_header)
    try:
        if resource == "instance":
            return _dicom_answer(negotiate_dicom(accept, {stored}, True, can_write))
        if resource == "study":
            if prefers_zip(accept):
                return "zip"
            return _dicom_answer(negotiate_dicom(accept, {stored}, False, can_write))
        if resource == "frames":
            f = negotiate_frames(accept, stored)
            if f is None:
                return "406"
            return (
                f"{f.content_type}, {f.transfer_syntax}, {'decoded' if f.decode else 'as stored'}"
            )
        if resource == "metadata":
            xml = wants_dicom_xml(accept, "metadata")
            return (
                'multipart/related; type="application/dicom+xml"'
                if xml
                else "application/dicom+json"
            )
        if resource == "rendered":
            return rendering.rendered_media_type(accept)
    except NotAcceptable:
        return "406"
    raise AssertionError(f"unknown resource {resource!r} in the negotiation table")


@pytest.mark.parametrize(
    "row", table("negotiation"), ids=lambda r: f"{r['resource']}:{r['Accept']}"
)
def test_negotiation(row: dict[str, str]) -> None:
    stored = plain(row["stored as"])
    answer = negotiate(row["resource"], stored, plain(row["Accept"]))
    assert answer == without_note(row["answer"])
    note = re.search(r"\(([^)]*)\)\s*$", row["answer"])
    if note and note.group(1) == "converted":  # a conversion the service must be able to write
        assert can_write(answer.split(", ")[1]) and answer.split(", ")[1] != stored


def test_negotiation_is_what_the_retrieve_services_call() -> None:
    assert "negotiate_dicom(" in inspect.getsource(wado)
    assert "prefers_zip(" in inspect.getsource(wado)


def test_rendered_types_and_default() -> None:
    rows = {plain(r["rendered media type"]): plain(r["default"]) for r in table("rendered-types")}
    assert set(rows) == set(rendering.RENDERED_TYPES)
    assert [t for t, d in rows.items() if d == "yes"] == [rendering.RenderOptions().media_type]


def test_rendered_parameters() -> None:
    rows = {plain(r["parameter"]): r["values"] for r in table("rendered-params")}
    read = set(re.findall(r'_last\(params, "(\w+)"\)', source("dicomweb", "rendering.py")))
    assert set(rows) == read
    functions = re.findall(r"`(\w+)`", rows["window"])
    assert set(functions) == set(rendering.WINDOW_FUNCTIONS)
    assert (
        re.search(r"`(\w+)` \(default\)", rows["window"]).group(1)
        == rendering.Window(0, 1).function
    )
    assert f"default {rendering.RenderOptions().quality}" in rows["quality"]


def test_wado_uri_parameters() -> None:
    text = source("dicomweb", "wado_uri.py")
    read = set(re.findall(r'_param\(params, "(\w+)"', text))
    for group in re.findall(r"UID_PARAMETERS = \(([^)]*)\)", text):
        read |= set(re.findall(r'"(\w+)"', group))
    assert {plain(r["parameter"]) for r in table("wado-uri-params")} == read


# --- errors, limits, security ---------------------------------------------------------------

_ERROR_CLASSES = {c.__name__: c for c in DicomWebError.__subclasses__()} | {
    "DicomWebError": DicomWebError
}


def service_errors() -> set[tuple[int, str]]:
    """(status, code) of every error the service's code can answer with its JSON body."""
    found = {(c.status, c.code) for c in _ERROR_CLASSES.values()}
    constructor = re.compile(r"\b(" + "|".join(_ERROR_CLASSES) + r")\(")
    for path in CHALICELIB.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for m in re.finditer(r'code="(\w+)"', text):
            before = text[max(0, m.start() - 400) : m.start()]
            calls = list(constructor.finditer(before))
            assert calls, f"{path.name}: {m.group(0)} outside an error constructor"
            status = _ERROR_CLASSES[calls[-1].group(1)].status
            explicit = re.search(r"status=(\d{3})", before[calls[-1].start() :])
            found.add((int(explicit.group(1)) if explicit else status, m.group(1)))
    return found


def gateway_errors() -> set[tuple[int, str]]:
    return {
        (
            int(r["StatusCode"]),
            json.loads(r["ResponseTemplates"]["application/json"])["error"]["code"],
        )
        for r in GATEWAY_RESPONSES.values()
    }


def test_error_table() -> None:
    by_origin: dict[str, set[tuple[int, str]]] = {
        "service": set(),
        "API Gateway": set(),
        "Chalice": set(),
    }
    for row in table("errors"):
        for origin in (o.strip() for o in row["from"].split(",")):
            by_origin[origin].add((int(row["status"]), plain(row["code"])))
    assert by_origin["service"] == service_errors()
    assert by_origin["API Gateway"] == gateway_errors()
    assert by_origin["Chalice"] == set()
    # Chalice would answer a Content-Type outside the route's with its own 415 body: every
    # bodiless route takes any, so no request meets that check
    for (method, path), entry in app_routes().items():
        if method in ("GET", "DELETE"):
            assert entry.content_types == ["*/*"], (method, path)


def resolve(dotted: str) -> Any:
    """'chalicelib.config.Settings.qido_max_limit' -> its value (a Settings method is called on
    the default Settings)."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for name in parts[i:]:
            obj = getattr(obj, name)
        if inspect.isfunction(obj) and obj.__qualname__.startswith("Settings."):
            return obj(Settings())
        return obj
    raise AssertionError(f"cannot resolve {dotted}")


def test_limits() -> None:
    for row in table("limits"):
        value = plain(row["value"])
        actual = resolve(plain(row["code"]))
        number = re.match(r"[\d,]+(\.\d+)?(?=\s|$)", value)
        if number:  # a count, a size or seconds; else a string (a UID)
            assert float(number.group(0).replace(",", "")) == actual, row["limit"]
        else:
            assert value == actual, row["limit"]


def test_api_key_headers() -> None:
    rows = table("api-key-headers")
    for row in rows:  # every example carries the key dwk_... (Basic: as its password)
        name, _, value = without_note(row["example"]).partition(": ")
        assert name.lower() == plain(row["header"]).lower()
        assert auth.extract_api_key({name.lower(): value}) == "dwk_...", name
    code = inspect.getsource(auth.extract_api_key)
    read = set(re.findall(r'"([\w-]+)"', re.search(r"for name in \(([^)]*)\)", code).group(1)))
    read |= set(re.findall(r'headers\.get\("([\w-]+)"\)', code))
    assert {plain(r["header"]).lower() for r in rows} == read
    assert auth.extract_api_key({"api-key": "k", "token": "k"}) is None


def test_cors_headers() -> None:
    assert {plain(r["header"]): plain(r["value"]) for r in table("cors")} == CORS_HEADERS


# --- the indexing delay ---------------------------------------------------------------------


def test_indexing_delay_is_the_measured_one() -> None:
    pattern = r"p50 (\d+) ms,\s+p95 (\d+) ms,\s+max (\d+) ms"
    bench = (ROOT / "docs" / "benchmarks" / "README.md").read_text(encoding="utf-8")
    measured = re.search(r"STOW->QIDO visibility lag[^\n]*?" + pattern, bench)
    documented = re.search(r"STOW->QIDO visibility lag\s+" + pattern, TEXT)
    assert measured and documented
    assert documented.groups() == measured.groups()
