"""multipart/related reader and writer (chalicelib.dicomweb.multipart)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.multipart import Part, new_boundary, read_multipart, write_multipart
from tests.factories import multipart_body

B = "test-boundary"


def bad(body: bytes, boundary: str = B) -> BadRequest:
    with pytest.raises(BadRequest) as info:
        read_multipart(body, boundary)
    assert info.value.status == 400
    assert info.value.code == "InvalidMultipart"
    return info.value


# --- round trip -----------------------------------------------------------------------------------


def test_round_trip_binary_content():
    parts = [
        Part(b"\x00\x01\xff\r\n\r\n--test-bound\r\n--test-boundar\r\n", {"content-type": "a/b"}),
        Part(
            b"x--test-boundary in the middle of a line, not at its start",
            {"content-type": "application/dicom"},
        ),
        Part(b"\r\n", {"content-type": "x/y"}),
        Part(b"", {"content-type": "x/y"}),
        Part(bytes(range(256)) * 4, {"content-type": "application/octet-stream"}),
    ]
    body = write_multipart(parts, B)
    assert read_multipart(body, B) == parts


def test_round_trip_with_new_boundary():
    boundary = new_boundary()
    assert boundary.startswith("dicomweb-")
    assert boundary != new_boundary()
    parts = [Part(b"one", {"content-type": "application/dicom"}), Part(b"two")]
    assert read_multipart(write_multipart(parts, boundary), boundary) == parts


@settings(max_examples=60, deadline=None)
@given(
    contents=st.lists(
        st.binary(max_size=64)
        | st.sampled_from([b"\r\n", b"\r\n\r\n", b"--" + B.encode(), b"\r\n--" + B[:-1].encode()]),
        min_size=1,
        max_size=4,
    ),
    with_headers=st.booleans(),
)
def test_round_trip_property(contents, with_headers):
    delim = b"\r\n--" + B.encode()
    parts = [
        Part(c, {"content-type": "application/dicom"} if with_headers else {})
        for c in contents
        # CRLF--boundary is the one sequence an encapsulation may not hold (RFC 2046 5.1.1);
        # the CRLF ending the part's header block counts, so content may not start with it
        if delim not in b"\r\n" + c + b"\r\n"
    ]
    if not parts:
        return
    assert read_multipart(write_multipart(parts, B), B) == parts


def test_write_multipart_layout():
    body = write_multipart([Part(b"DATA", {"content-type": "application/dicom"})], B)
    assert body == (
        b"--test-boundary\r\ncontent-type: application/dicom\r\n\r\nDATA\r\n--test-boundary--\r\n"
    )


def test_reads_factory_body():
    body = multipart_body([b"first", b"second\r\n"])
    parts = read_multipart(body, "test-boundary")
    assert [p.content for p in parts] == [b"first", b"second\r\n"]
    assert all(p.content_type == "application/dicom" for p in parts)


# --- headers --------------------------------------------------------------------------------------


def test_part_headers_kept_with_lower_cased_names():
    body = (
        b"--test-boundary\r\n"
        b"Content-Type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n"
        b"CONTENT-LOCATION:   http://example.com/a:b  \r\n"
        b"X-Custom:value\r\n"
        b"\r\n"
        b"payload\r\n"
        b"--test-boundary--\r\n"
    )
    (part,) = read_multipart(body, B)
    assert part.headers == {
        "content-type": "application/dicom; transfer-syntax=1.2.840.10008.1.2.1",
        "content-location": "http://example.com/a:b",
        "x-custom": "value",
    }
    assert part.content_type == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert part.content == b"payload"


def test_part_without_headers():
    body = b"--test-boundary\r\n\r\nno headers\r\n--test-boundary--\r\n"
    (part,) = read_multipart(body, B)
    assert part == Part(b"no headers", {})
    assert part.content_type is None


def test_part_without_headers_whose_content_starts_with_crlf():
    body = b"--test-boundary\r\n\r\n\r\nbody\r\n--test-boundary--"
    assert read_multipart(body, B) == [Part(b"\r\nbody")]


def test_entirely_empty_body_part():
    assert read_multipart(b"--test-boundary\r\n\r\n--test-boundary--\r\n", B) == [Part(b"")]


def test_content_may_hold_a_blank_line_after_the_headers():
    body = b"--test-boundary\r\nContent-Type: a/b\r\n\r\nx\r\n\r\ny: z\r\n--test-boundary--"
    assert read_multipart(body, B) == [Part(b"x\r\n\r\ny: z", {"content-type": "a/b"})]


def test_header_line_without_colon_is_a_bad_request():
    bad(b"--test-boundary\r\nnot a header\r\n\r\nx\r\n--test-boundary--\r\n")


def test_part_without_end_of_headers_is_a_bad_request():
    bad(b"--test-boundary\r\nContent-Type: a/b\r\n--test-boundary--\r\n")


# --- framing --------------------------------------------------------------------------------------


def test_preamble_and_epilogue_ignored():
    body = (
        b"This is the preamble. It has --test-bound in it.\r\n"
        b"--test-boundary\r\nContent-Type: a/b\r\n\r\none\r\n"
        b"--test-boundary\r\n\r\ntwo\r\n"
        b"--test-boundary--\r\n"
        b"This is the epilogue.\r\n--test-boundary\r\n\r\nnot a part\r\n"
    )
    parts = read_multipart(body, B)
    assert parts == [Part(b"one", {"content-type": "a/b"}), Part(b"two")]


def test_close_delimiter_without_trailing_crlf():
    assert read_multipart(b"--test-boundary\r\n\r\nx\r\n--test-boundary--", B) == [Part(b"x")]


def test_transport_padding_after_delimiter_allowed():
    body = b"--test-boundary \t\r\n\r\nx\r\n--test-boundary  \r\n\r\ny\r\n--test-boundary--"
    assert read_multipart(body, B) == [Part(b"x"), Part(b"y")]


def test_delimiter_followed_by_other_text_is_a_bad_request():
    bad(b"--test-boundaryXYZ\r\n\r\nx\r\n--test-boundary--\r\n")


def test_delimiter_line_without_crlf_is_a_bad_request():
    bad(b"--test-boundary")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"no delimiter at all",
        b"--other-boundary\r\n\r\nx\r\n--other-boundary--\r\n",
        b"--test-bound\r\n\r\nx\r\n",
    ],
)
def test_missing_boundary_is_a_bad_request(body):
    bad(body)


@pytest.mark.parametrize("boundary", ["", "b" * 201])
def test_invalid_boundary_is_a_bad_request(boundary):
    body = write_multipart([Part(b"x")], boundary or "x")
    bad(body, boundary)


def test_longest_boundary_accepted():
    boundary = "b" * 200
    assert read_multipart(write_multipart([Part(b"x")], boundary), boundary) == [Part(b"x")]


@pytest.mark.parametrize(
    "body",
    [
        b"--test-boundary\r\nContent-Type: a/b\r\n\r\ntruncated content",
        b"--test-boundary\r\n\r\nfirst\r\n--test-boundary\r\n\r\nsecond, cut short",
        # the close delimiter needs the CRLF before it: this one is part of the content
        b"--test-boundary\r\n\r\nx--test-boundary--",
    ],
)
def test_body_ending_inside_a_part_is_a_bad_request(body):
    bad(body)


@pytest.mark.parametrize(
    "body",
    [b"--test-boundary--", b"--test-boundary--\r\n", b"preamble\r\n--test-boundary--\r\nepilogue"],
)
def test_body_without_parts_is_a_bad_request(body):
    err = bad(body)
    assert "no parts" in err.message


def test_write_multipart_of_no_parts_is_unreadable():
    bad(write_multipart([], B))
