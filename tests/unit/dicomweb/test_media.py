"""Accept / Content-Type parsing and DICOM retrieve negotiation (chalicelib.dicomweb.media)."""

from __future__ import annotations

import pytest

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.media import (
    APPLICATION_DICOM,
    DEFAULT_TRANSFER_SYNTAX,
    DicomChoice,
    MediaType,
    multipart_type,
    negotiate_dicom,
    parse_accept,
    parse_media_type,
    requested_transfer_syntax,
)

ELE = "1.2.840.10008.1.2.1"
ILE = "1.2.840.10008.1.2"
J2K = "1.2.840.10008.1.2.4.90"
JPEG = "1.2.840.10008.1.2.4.50"


def essences(header: str | None) -> list[str]:
    return [m.essence for m in parse_accept(header)]


# --- parse_media_type -----------------------------------------------------------------------------


def test_default_transfer_syntax_is_explicit_vr_little_endian():
    assert DEFAULT_TRANSFER_SYNTAX == "1.2.840.10008.1.2.1"


@pytest.mark.parametrize(
    "header",
    [
        'multipart/related; type="application/dicom"',
        "multipart/related; type=application/dicom",
        "multipart/related;type=application/dicom",
        'multipart/related ;  type = "application/dicom" ',
    ],
)
def test_quoted_and_unquoted_parameters_are_equivalent(header):
    media = parse_media_type(header)
    assert media == MediaType("multipart", "related", {"type": "application/dicom"}, 1.0)
    assert media.essence == "multipart/related"


def test_type_and_parameter_names_are_lower_cased_values_kept():
    media = parse_media_type('Multipart/Related; TYPE="Application/DICOM"; Transfer-Syntax=1.2')
    assert (media.type, media.subtype) == ("multipart", "related")
    assert media.params == {"type": "Application/DICOM", "transfer-syntax": "1.2"}


def test_quoted_value_may_hold_separators():
    media = parse_media_type('multipart/related; type="a;b,c"; x=1')
    assert media.params == {"type": "a;b,c", "x": "1"}


def test_backslash_escape_inside_quoted_value():
    media = parse_media_type('a/b; p="x\\"y"')
    assert media.params == {"p": 'x"y'}


def test_parameter_without_value_and_empty_pieces():
    media = parse_media_type("a/b; flag;; ;x=")
    assert media.params == {"flag": "", "x": ""}


@pytest.mark.parametrize(
    ("header", "q"),
    [
        ("text/html", 1.0),
        ("text/html; q=0.5", 0.5),
        ('text/html; q="0.25"', 0.25),
        ("text/html; Q=0.3", 0.3),
        ("text/html; q=0", 0.0),
        ("text/html; q=7", 1.0),  # clamped
        ("text/html; q=-1", 0.0),  # clamped
        ("text/html; q=abc", 0.0),  # unparsable: not acceptable
    ],
)
def test_q_value(header, q):
    media = parse_media_type(header)
    assert media.q == q
    assert "q" not in media.params


@pytest.mark.parametrize(
    "header",
    ["", "   ", "text", "/json", "text/", "/", "text /html", "text/ht ml", ";type=x"],
)
def test_malformed_media_type_is_a_bad_request(header):
    with pytest.raises(BadRequest) as info:
        parse_media_type(header)
    assert info.value.status == 400
    assert info.value.code == "InvalidMediaType"


def test_wildcard_range_matches():
    assert MediaType("*", "*").matches("application/dicom")
    assert MediaType("application", "*").matches("application/dicom")
    assert not MediaType("application", "*").matches("multipart/related")
    assert MediaType("application", "dicom").matches("application/dicom")
    assert not MediaType("application", "dicom").matches("application/dicom+json")


# --- parse_accept ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", [None, "", "   "])
def test_empty_accept_means_anything(header):
    assert parse_accept(header) == [MediaType("*", "*")]


def test_accept_ordered_by_q_value():
    header = "text/html;q=0.2, application/dicom+json;q=0.9, application/json;q=0.5"
    assert essences(header) == ["application/dicom+json", "application/json", "text/html"]


def test_accept_equal_q_ordered_by_specificity():
    header = "*/*, application/*, multipart/related, multipart/related; type=application/dicom"
    assert essences(header) == [
        "multipart/related",
        "multipart/related",
        "application/*",
        "*/*",
    ]
    # the range with parameters is more specific than the bare one
    assert parse_accept(header)[0].params == {"type": "application/dicom"}


def test_accept_equal_rank_keeps_header_order():
    assert essences("application/json, application/dicom+json") == [
        "application/json",
        "application/dicom+json",
    ]
    assert essences("application/dicom+json, application/json") == [
        "application/dicom+json",
        "application/json",
    ]


def test_q_beats_specificity():
    assert essences("application/dicom;q=0.5, */*") == ["*/*", "application/dicom"]


def test_q_zero_excluded():
    assert essences("application/dicom;q=0, application/json") == ["application/json"]
    assert parse_accept("application/dicom;q=0") == []


def test_commas_inside_quotes_do_not_split():
    ranges = parse_accept('multipart/related; type="a,b", application/json')
    assert [m.essence for m in ranges] == ["multipart/related", "application/json"]
    assert ranges[0].params == {"type": "a,b"}


def test_malformed_ranges_are_skipped():
    assert essences("garbage, , application/json") == ["application/json"]


def test_accept_with_only_malformed_ranges_is_a_bad_request():
    with pytest.raises(BadRequest) as info:
        parse_accept("garbage, also garbage")
    assert info.value.code == "InvalidAccept"


def test_escaped_quote_inside_quoted_value_does_not_swallow_next_range():
    ranges = parse_accept('multipart/related; type="a\\"b", application/json')
    assert [m.essence for m in ranges] == ["multipart/related", "application/json"]
    assert ranges[0].params == {"type": 'a"b'}


# --- multipart_type / requested_transfer_syntax ---------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('multipart/related; type="Application/DICOM"', "application/dicom"),
        ("multipart/related; type=application/octet-stream", "application/octet-stream"),
        ("multipart/related", None),
        ('multipart/related; type=""', None),
    ],
)
def test_multipart_type(header, expected):
    assert multipart_type(parse_media_type(header)) == expected


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("application/dicom", ELE),
        ("application/dicom; transfer-syntax=", ELE),
        (f"application/dicom; transfer-syntax={J2K}", J2K),
        (f'application/dicom; transfer-syntax=" {J2K} "', J2K),
        (f"application/dicom; Transfer-Syntax={ILE}", ILE),
        ("application/dicom; transfer-syntax=*", "*"),
    ],
)
def test_requested_transfer_syntax(header, expected):
    assert requested_transfer_syntax(parse_media_type(header)) == expected


# --- negotiate_dicom ------------------------------------------------------------------------------


def negotiate(header, stored, single_part_allowed=False, can_write=None):
    kwargs = {} if can_write is None else {"can_write": can_write}
    return negotiate_dicom(parse_accept(header), set(stored), single_part_allowed, **kwargs)


@pytest.mark.parametrize(
    ("header", "stored", "single", "expected"),
    [
        # multipart, default syntax
        ('multipart/related; type="application/dicom"', {ELE}, False, (True, ELE)),
        ("multipart/related; type=application/dicom", {ELE}, True, (True, ELE)),
        ("multipart/related", {ELE}, False, (True, ELE)),
        ("multipart/*", {ELE}, False, (True, ELE)),
        ('multipart/related; type="APPLICATION/DICOM"', {ELE}, False, (True, ELE)),
        # anything: multipart with the default syntax
        ("*/*", {ELE}, False, (True, ELE)),
        ("*/*", {ELE}, True, (True, ELE)),
        (None, {ELE}, True, (True, ELE)),
        # single part only where allowed
        ("application/dicom", {ELE}, True, (False, ELE)),
        ("application/dicom", {ELE}, False, None),
        ("application/*", {ELE}, True, (False, ELE)),
        ("application/*", {ELE}, False, (True, ELE)),
        # transfer-syntax=* keeps what is stored, whatever it is
        ("multipart/related; type=application/dicom; transfer-syntax=*", {J2K}, False, (True, "*")),
        (
            "multipart/related; type=application/dicom; transfer-syntax=*",
            {J2K, ELE},
            False,
            (True, "*"),
        ),
        ("application/dicom; transfer-syntax=*", {J2K}, True, (False, "*")),
        # a named syntax every stored instance already has
        (
            f'multipart/related; type="application/dicom"; transfer-syntax="{J2K}"',
            {J2K},
            False,
            (True, J2K),
        ),
        (f"application/dicom; transfer-syntax={J2K}", {J2K}, True, (False, J2K)),
        # nothing stored yet: any syntax is trivially satisfied
        (
            f"multipart/related; type=application/dicom; transfer-syntax={J2K}",
            set(),
            False,
            (True, J2K),
        ),
        # unacceptable
        ("multipart/related; type=application/dicom", {J2K}, False, None),
        (f"multipart/related; type=application/dicom; transfer-syntax={J2K}", {ELE}, False, None),
        ("multipart/related; type=application/dicom", {J2K, ELE}, False, None),
        ("multipart/related; type=application/octet-stream", {ELE}, False, None),
        ('multipart/related; type="application/dicom+xml"', {ELE}, False, None),
        ("application/json", {ELE}, True, None),
        ("image/jpeg", {ELE}, True, None),
        ("application/dicom;q=0", {ELE}, True, None),
    ],
)
def test_negotiate_dicom(header, stored, single, expected):
    choice = negotiate(header, stored, single)
    if expected is None:
        assert choice is None
    else:
        assert choice == DicomChoice(multipart=expected[0], transfer_syntax=expected[1])


def test_negotiate_dicom_converts_when_the_service_can_write():
    asked = []

    def can_write(ts):
        asked.append(ts)
        return ts == ELE

    header = 'multipart/related; type="application/dicom"'
    assert negotiate(header, {J2K}, can_write=can_write) == DicomChoice(True, ELE)
    assert asked == [ELE]
    header = f"multipart/related; type=application/dicom; transfer-syntax={JPEG}"
    assert negotiate(header, {J2K}, can_write=can_write) is None


def test_negotiate_dicom_takes_the_first_acceptable_range():
    header = (
        f"multipart/related; type=application/dicom; transfer-syntax={J2K}, "
        "multipart/related; type=application/dicom;q=0.9"
    )
    assert negotiate(header, {ELE}) == DicomChoice(True, ELE)
    assert negotiate(header, {J2K}) == DicomChoice(True, J2K)


def test_negotiate_dicom_skips_unusable_ranges():
    header = "application/json, application/dicom;q=0.8, multipart/related;q=0.5"
    # single part not allowed: application/dicom is skipped, multipart chosen
    assert negotiate(header, {ELE}, single_part_allowed=False) == DicomChoice(True, ELE)
    assert negotiate(header, {ELE}, single_part_allowed=True) == DicomChoice(False, ELE)


def test_negotiate_dicom_nothing_acceptable():
    assert negotiate_dicom([], {ELE}, True) is None
    assert APPLICATION_DICOM == "application/dicom"
