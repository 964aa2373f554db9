"""Streaming multipart/related reader (chalicelib.dicomweb.multipart_stream), checked against the
whole-body reader ``read_multipart`` as the oracle, on chunks of any size."""

from __future__ import annotations

import io
import itertools
import random
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.multipart import Part, read_multipart, write_multipart
from chalicelib.dicomweb.multipart_stream import MAX_HEADER_BYTES, iter_parts
from tests.factories import instance_bytes, multipart_body

B = "test-boundary"
BIG = 1 << 40
Result = list[tuple[dict[str, str], bytes]] | str


def stream(chunks: object, boundary: str = B, **limits: int) -> Result:
    """Every part's headers and content, or "bad" for InvalidMultipart."""
    limits = {"max_parts": 10_000, "max_part_bytes": BIG, **limits}
    try:
        out = []
        for part in iter_parts(chunks, boundary, **limits):  # type: ignore[arg-type]
            content = part.read_all()
            assert part.complete and part.size == len(content)
            out.append((part.headers, content))
        return out
    except BadRequest as exc:
        assert (exc.status, exc.code) == (400, "InvalidMultipart")
        return "bad"


def oracle(body: bytes, boundary: str = B) -> Result:
    try:
        return [(p.headers, p.content) for p in read_multipart(body, boundary)]
    except BadRequest as exc:
        assert (exc.status, exc.code) == (400, "InvalidMultipart")
        return "bad"


def split(body: bytes, cuts: Iterable[int]) -> list[bytes]:
    edges = [0, *sorted(set(cuts)), len(body)]
    return [body[a:b] for a, b in itertools.pairwise(edges)]  # empty chunks kept


def ones(body: bytes) -> Iterator[bytes]:
    return (body[i : i + 1] for i in range(len(body)))


def random_chunks(body: bytes, seed: int, most: int = 4096) -> list[bytes]:
    rng = random.Random(seed)
    out, pos = [], 0
    while pos < len(body):
        n = rng.randint(0, most)
        out.append(body[pos : pos + n])
        pos += n
    return out


@pytest.fixture(scope="module")
def dicom_body() -> bytes:
    parts = [instance_bytes(), instance_bytes(Rows=16, Columns=16), instance_bytes()]
    return multipart_body(parts)


# --- the oracle, on real DICOM parts and on the whole-body reader's own cases --------------------


def test_dicom_parts_in_one_byte_chunks(dicom_body):
    expected = oracle(dicom_body)
    assert expected != "bad" and len(expected) == 3
    assert stream(ones(dicom_body)) == expected


@pytest.mark.parametrize("seed", range(20))
def test_dicom_parts_in_random_chunks(dicom_body, seed):
    most = [1, 3, 17, 600, 5000, 100_000][seed % 6]
    assert stream(random_chunks(dicom_body, seed, most)) == oracle(dicom_body)


def test_file_like_body(dicom_body):
    for size in (1, 7, 64 * 1024):
        assert stream(io.BytesIO(dicom_body), chunk_size=size) == oracle(dicom_body)
    assert stream(dicom_body) == oracle(dicom_body)  # one bytes object: one chunk


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_dicom_parts_split_anywhere(dicom_body, data):
    cuts = data.draw(st.lists(st.integers(0, len(dicom_body)), max_size=30))
    assert stream(split(dicom_body, cuts)) == oracle(dicom_body)


CASES = [
    write_multipart([Part(b"\x00\r\n\r\n--test-bound\r\n--test-boundar\r\n", {"a": "b"})], B),
    b"This is the preamble --test-bound.\r\n--test-boundary\r\nContent-Type: a/b\r\n\r\none\r\n"
    b"--test-boundary\r\n\r\ntwo\r\n--test-boundary--\r\nepilogue\r\n--test-boundary\r\n\r\nx",
    b"--test-boundary \t\r\n\r\nx\r\n--test-boundary  \r\n\r\ny\r\n--test-boundary--",
    b"--test-boundary\r\n\r\nx\r\n--test-boundary--",
    b"--test-boundary\r\n\r\n--test-boundary--\r\n",
    b"--test-boundary\r\n\r\n\r\nbody\r\n--test-boundary--",
    b"--test-boundary\r\nContent-Type: a/b\r\n\r\nx\r\n\r\ny: z\r\n--test-boundary--",
    b"--test-boundary\r\nC: a\r\n\r\n\r\n--test-boundary--",
    b"--test-boundary\r\nC: a\r\nX:y\r\n\r\n--test-boundary--",
    b"--test-boundary\r\nC: a\r\n--test-boundary\r\n\r\n\r\nx\r\n--test-boundary--",
    b"--test-boundary\r\nnot a header\r\n\r\nx\r\n--test-boundary--\r\n",
    b"--test-boundary\r\nContent-Type: a/b\r\n--test-boundary--\r\n",
    b"--test-boundaryXYZ\r\n\r\nx\r\n--test-boundary--\r\n",
    b"--test-boundary-\r\n\r\nx\r\n--test-boundary--\r\n",
    b"--test-boundary",
    b"--test-boundary-",
    b"",
    b"no delimiter at all",
    b"--test-bound\r\n\r\nx\r\n",
    b"--test-boundary\r\nContent-Type: a/b\r\n\r\ntruncated content",
    b"--test-boundary\r\n\r\nfirst\r\n--test-boundary\r\n\r\nsecond, cut short",
    b"--test-boundary\r\n\r\nx--test-boundary--",
    b"--test-boundary\r\n\r\nx\r\n--test-boundary",
    b"--test-boundary--",
    b"preamble\r\n--test-boundary--\r\nepilogue",
]


@pytest.mark.parametrize("body", CASES)
def test_agrees_with_the_whole_body_reader(body):
    expected = oracle(body)
    assert stream([body]) == expected
    assert stream(ones(body)) == expected
    for seed in range(5):
        assert stream(random_chunks(body, seed, 9)) == expected


@pytest.mark.parametrize("boundary", ["", "b" * 201])
def test_invalid_boundary_refused_at_once(boundary):
    with pytest.raises(BadRequest) as info:
        iter_parts([b"x"], boundary, max_parts=1, max_part_bytes=1)
    assert info.value.code == "InvalidMultipart"


def test_longest_boundary(dicom_body):
    body = write_multipart([Part(b"x"), Part(b"y" * 500)], "b" * 200)
    assert stream(ones(body), "b" * 200) == oracle(body, "b" * 200) != "bad"


PIECES = [
    b"--" + B.encode(),
    b"--" + B.encode() + b"--",
    b"--test-bound",
    b"\r\n",
    b"\r\n\r\n",
    b"--",
    b"-",
    b" ",
    b"\t",
    b"Content-Type: a/b",
    b":",
    b"x",
    b"\r",
]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES) | st.binary(max_size=6), max_size=24),
    data=st.data(),
)
def test_any_body_any_chunking_agrees_with_the_oracle(pieces, data):
    body = b"".join(pieces)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=12))
    assert stream(split(body, cuts)) == oracle(body)


@settings(max_examples=150, deadline=None)
@given(
    contents=st.lists(st.binary(max_size=40) | st.sampled_from(PIECES), min_size=1, max_size=4),
    preamble=st.sampled_from([b"", b"pre\r\n", b"--test-bound\r\n"]),
    padding=st.sampled_from([b"", b" ", b" \t "]),
    epilogue=st.sampled_from([b"", b"\r\n", b"\r\nepi --test-boundary\r\n\r\nx"]),
    data=st.data(),
)
def test_well_formed_bodies_truncated_anywhere(contents, preamble, padding, epilogue, data):
    parts = [Part(c, {"content-type": "application/dicom"}) for c in contents]
    body = preamble + write_multipart(parts, B).replace(b"\r\n", padding + b"\r\n", 1) + epilogue
    end = data.draw(st.integers(0, len(body)))
    cuts = data.draw(st.lists(st.integers(0, end), max_size=8))
    assert stream(split(body[:end], cuts)) == oracle(body[:end])


def test_every_truncation_before_the_close_delimiter_is_refused(dicom_body):
    body = multipart_body([b"one", b"two\r\n"])
    assert stream([body[:-2]]) != "bad"  # "--test-boundary--" without its CRLF closes
    for end in range(len(body) - 2):
        assert stream(ones(body[:end])) == "bad", end
    for end in range(0, len(dicom_body) - 2, 997):  # a real upload cut off
        assert stream(random_chunks(dicom_body[:end], end, 300)) == "bad"


# --- bounds ---------------------------------------------------------------------------------------


def body_with_header(size: int) -> bytes:
    line = b"X-Pad: " + b"p" * (size - 7)
    assert len(line) == size
    return b"--test-boundary\r\n" + line + b"\r\n\r\ndata\r\n--test-boundary--\r\n"


@pytest.mark.parametrize("chunk", [1, 5, 100, 100_000])
def test_header_block_bound(chunk):
    ok = body_with_header(MAX_HEADER_BYTES)
    assert stream(random_chunks(ok, chunk, chunk)) == oracle(ok)
    assert stream(random_chunks(body_with_header(MAX_HEADER_BYTES + 1), chunk, chunk)) == "bad"
    assert stream([body_with_header(100)], max_header_bytes=99) == "bad"
    assert stream([body_with_header(99)], max_header_bytes=99) != "bad"


def test_unterminated_header_block_refused_without_reading_on():
    def endless() -> Iterator[bytes]:
        yield b"--test-boundary\r\n"
        for _ in range(10_000):
            yield b"X: y\r\n"
        raise AssertionError("read past the header bound")

    assert stream(endless()) == "bad"


def test_delimiter_padding_bound():
    body = b"--test-boundary" + b" " * 10_000 + b"\r\n\r\nx\r\n--test-boundary--"
    assert stream([body]) == "bad"
    assert stream([body], max_header_bytes=10_000) == [({}, b"x")]


def test_max_parts():
    body = multipart_body([b"a", b"b", b"c"])
    assert [h for h, _ in stream(ones(body), max_parts=3)] == [
        {"content-type": "application/dicom"}
    ] * 3
    parts = iter_parts([body], B, max_parts=2, max_part_bytes=10)
    assert next(parts).read_all() == b"a"
    assert next(parts).read_all() == b"b"
    with pytest.raises(BadRequest, match="more than 2 parts"):
        next(parts)


def test_max_part_bytes_refused_inside_the_part():
    body = multipart_body([b"a" * 100, b"b" * 101])
    assert stream(ones(body), max_part_bytes=101) != "bad"
    parts = iter_parts(ones(body), B, max_parts=10, max_part_bytes=100)
    assert next(parts).read_all() == b"a" * 100
    second = next(parts)
    received = b""
    with pytest.raises(BadRequest, match="over 100 bytes") as info:
        for chunk in second:
            received += chunk
    assert info.value.code == "InvalidMultipart"
    assert len(received) == second.size <= 100 and not second.complete
    with pytest.raises(BadRequest):  # the reader stays refused
        next(parts)


def test_skipped_part_over_the_bound_is_refused_too():
    parts = iter_parts([multipart_body([b"a" * 101, b"b"])], B, max_parts=10, max_part_bytes=100)
    next(parts)
    with pytest.raises(BadRequest, match="over 100 bytes"):
        next(parts)


# --- consumer -------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 3, 64, 10_000])
def test_consumer_may_leave_a_part_midway(dicom_body, chunk):
    expected = oracle(dicom_body)
    assert expected != "bad"
    seen = []
    for part in iter_parts(random_chunks(dicom_body, 1, chunk), B, max_parts=9, max_part_bytes=BIG):
        if part.index == 1:
            seen.append((part.headers, part.read_all(), part.size, part.complete))
            continue
        if part.index == 0:
            first = next(iter(part))
            assert expected[0][1].startswith(first) and part.size == len(first)
        seen.append((part.headers, None, part.size, part.complete))  # left midway or unread
    assert [s[0] for s in seen] == [h for h, _ in expected]
    assert seen[1][1:] == (expected[1][1], len(expected[1][1]), True)
    assert seen[2][2:] == (0, False)
    assert [s[1] for s in seen] == [None, expected[1][1], None]


def test_finished_part_iterates_no_more(dicom_body):
    parts = iter_parts([dicom_body], B, max_parts=9, max_part_bytes=BIG)
    first = next(parts)
    next(parts)
    assert list(first) == []
    assert first.complete and first.size == len(oracle(dicom_body)[0][1])  # type: ignore[index]


def test_part_content_type():
    (part,) = iter_parts([multipart_body([b"x"])], B, max_parts=1, max_part_bytes=1)
    assert part.content_type == "application/dicom"


def test_source_failure_ends_the_reader():
    def chunks() -> Iterator[bytes]:
        yield b"--test-boundary\r\n\r\nfirst\r\n--test-boundary\r\n\r\nsecond, cut off by a client"
        raise ConnectionResetError("client gone")

    parts = iter_parts(chunks(), B, max_parts=9, max_part_bytes=BIG)
    assert next(parts).read_all() == b"first"
    second = next(parts)
    with pytest.raises(ConnectionResetError):
        second.read_all()
    assert not second.complete
    with pytest.raises(ConnectionResetError):
        next(parts)


def test_epilogue_is_not_read():
    def chunks() -> Iterator[bytes]:
        yield b"pre\r\n--test-boundary\r\n\r\nx\r\n--test-boundary--"
        raise AssertionError("read past the close delimiter")

    assert stream(chunks()) == [({}, b"x")]


def test_window_stays_bounded_while_a_large_part_streams():
    """Bytes taken from the source but not yet given to the consumer: at most the header
    window, the boundary and one chunk, however large the part."""
    chunk = 1000
    content = bytes(random.Random(7).randrange(256) for _ in range(300_000))
    body = multipart_body([content, b"second"])
    taken = 0

    def source() -> Iterator[bytes]:
        nonlocal taken
        for i in range(0, len(body), chunk):
            taken += len(body[i : i + chunk])
            yield body[i : i + chunk]

    head = len(b"--test-boundary\r\nContent-Type: application/dicom\r\n\r\n")
    given = head
    parts = iter_parts(source(), B, max_parts=2, max_part_bytes=BIG)
    first = next(parts)
    assert taken <= head + chunk  # the first part comes before the body is read
    for piece in first:
        given += len(piece)
        assert taken - given <= len(B) + 4 + chunk
    assert given == head + len(content)
    assert next(parts).read_all() == b"second"
