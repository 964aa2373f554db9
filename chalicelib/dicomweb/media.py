"""Accept / Content-Type parsing and negotiation, in one place (PS3.18 8.7).

Parameters may be quoted or not (``type="application/dicom"`` and ``type=application/dicom``);
an Accept header may list several media ranges with q-values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable

APPLICATION_DICOM = "application/dicom"
DICOM_JSON = "application/dicom+json"
DICOM_XML = "application/dicom+xml"
MULTIPART_RELATED = "multipart/related"
OCTET_STREAM = "application/octet-stream"
JSON = "application/json"

#: The transfer syntax a retrieve answers with when the client names none (PS3.18 8.7.3.5.2):
#: Explicit VR Little Endian (PS3.5 A.2; a literal, not pydicom's constant, so that content
#: negotiation does not import pydicom).
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
DEFAULT_TRANSFER_SYNTAX = EXPLICIT_VR_LITTLE_ENDIAN
ANY_TRANSFER_SYNTAX = "*"


@dataclass(frozen=True)
class MediaType:
    """One media type (or range) with its parameters; names lower-cased, values unquoted."""

    type: str
    subtype: str
    params: dict[str, str] = field(default_factory=dict)
    q: float = 1.0

    @property
    def essence(self) -> str:
        return f"{self.type}/{self.subtype}"

    def matches(self, essence: str) -> bool:
        """True when this (possibly wildcard) range covers ``essence``."""
        t, _, s = essence.partition("/")
        return self.type in ("*", t) and self.subtype in ("*", s)


def _split_outside_quotes(text: str, sep: str, unescape: bool) -> list[str]:
    """Split on ``sep`` outside double quotes; a backslash escapes the next character inside
    quotes (kept when ``unescape`` is false, so a later split can still see it)."""
    out: list[str] = []
    buf: list[str] = []
    quoted = False
    i = 0
    while i < len(text):
        c = text[i]
        if c == "\\" and quoted and i + 1 < len(text):
            buf += [text[i + 1]] if unescape else [c, text[i + 1]]
            i += 2
            continue
        if c == '"':
            quoted = not quoted
        if c == sep and not quoted:
            out.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    out.append("".join(buf))
    return out


def _split_params(text: str) -> list[str]:
    return _split_outside_quotes(text, ";", unescape=True)


def _split_commas(text: str) -> list[str]:
    return _split_outside_quotes(text, ",", unescape=False)


def parse_media_type(header: str) -> MediaType:
    """Parse one media type such as ``multipart/related; type="application/dicom"``."""
    pieces = _split_params(header)
    essence = pieces[0].strip().lower()
    t, sep, s = essence.partition("/")
    if not sep or not t or not s or " " in essence:
        raise BadRequest(f"malformed media type {header[:100]!r}", code="InvalidMediaType")
    params: dict[str, str] = {}
    q = 1.0
    for piece in pieces[1:]:
        name, eq, value = piece.partition("=")
        name = name.strip().lower()
        if not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name == "q":
            try:
                q = float(value)
            except ValueError:
                q = 0.0
            continue
        params[name] = value if eq else ""
    return MediaType(t, s, params, max(0.0, min(q, 1.0)))


def parse_accept(header: str | None) -> list[MediaType]:
    """Parse an Accept header into media ranges, best first (q, then specificity, then order)."""
    if not header or not header.strip():
        return [MediaType("*", "*")]
    ranges: list[MediaType] = []
    for item in _split_commas(header):
        if item.strip():
            try:
                ranges.append(parse_media_type(item))
            except BadRequest:
                continue
    if not ranges:
        raise BadRequest("malformed Accept header", code="InvalidAccept")

    def rank(ix: tuple[int, MediaType]) -> tuple[float, int, int]:
        i, m = ix
        specificity = (m.type != "*") + (m.subtype != "*") + bool(m.params)
        return (-m.q, -specificity, i)

    return [m for _, m in sorted(enumerate(ranges), key=rank) if m.q > 0]


def multipart_type(media: MediaType) -> str | None:
    """The ``type`` parameter of a multipart/related media type, lower-cased."""
    value = media.params.get("type")
    return value.lower() if value else None


def requested_transfer_syntax(media: MediaType) -> str:
    """The transfer syntax a media range asks for; the standard's default when it names none."""
    value = media.params.get("transfer-syntax")
    return value.strip() if value else DEFAULT_TRANSFER_SYNTAX


@dataclass(frozen=True)
class DicomChoice:
    """How to answer a retrieve of DICOM instances: multipart or single part, which syntax."""

    multipart: bool
    transfer_syntax: str  # "*" keeps what is stored


def negotiate_dicom(
    accept: list[MediaType],
    stored_syntaxes: set[str],
    single_part_allowed: bool,
    can_write: Callable[[str], bool] = lambda _: False,
) -> DicomChoice | None:
    """Pick the first acceptable representation, or None (406).

    A syntax is acceptable when it is ``*``, when every stored instance already has it, or
    when the service can convert to it (``can_write``).
    """
    for media in accept:
        multipart = media.matches(MULTIPART_RELATED) and media.essence != "*/*"
        if multipart:
            part_type = multipart_type(media)
            if part_type not in (None, APPLICATION_DICOM):
                continue
        elif media.matches(APPLICATION_DICOM):
            if media.essence == APPLICATION_DICOM and not single_part_allowed:
                continue
            multipart = media.essence == "*/*" or media.type == "*" or not single_part_allowed
        else:
            continue
        ts = requested_transfer_syntax(media)
        if ts == ANY_TRANSFER_SYNTAX or stored_syntaxes <= {ts} or can_write(ts):
            return DicomChoice(multipart=multipart, transfer_syntax=ts)
    return None


#: Media types of encapsulated frames (PS3.18 Table 8.7.3-2), by transfer syntax.
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx",
    "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.4.201": "image/jphc",
    "1.2.840.10008.1.2.4.202": "image/jphc",
    "1.2.840.10008.1.2.4.203": "image/jphc",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
#: Native syntaxes whose pixel bytes are already little-endian, as a frame of ELE needs.
NATIVE_LITTLE_ENDIAN = {EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN}


@dataclass(frozen=True)
class FrameChoice:
    content_type: str  # the part's media type
    transfer_syntax: str  # what the part holds
    decode: bool  # the stored frames must be decoded to native pixels


def negotiate_frames(accept: list[MediaType], stored: str) -> FrameChoice | None:
    """How to answer a frames request for an instance stored as ``stored`` (None: 406)."""
    native = stored in NATIVE_LITTLE_ENDIAN
    for media in accept:
        if media.essence == "*/*":  # the default: uncompressed, Explicit VR Little Endian
            part, ts = OCTET_STREAM, None
        elif media.matches(MULTIPART_RELATED):
            part = multipart_type(media) or OCTET_STREAM
            ts = media.params.get("transfer-syntax")
            if part == "*/*":  # any part type (dicomweb-client's default): frames as stored
                if native:
                    return FrameChoice(OCTET_STREAM, DEFAULT_TRANSFER_SYNTAX, False)
                return FrameChoice(FRAME_MEDIA_TYPES.get(stored, OCTET_STREAM), stored, False)
        else:
            continue
        if part == OCTET_STREAM:
            if ts == ANY_TRANSFER_SYNTAX:
                return FrameChoice(OCTET_STREAM, stored, False)
            if ts in (None, DEFAULT_TRANSFER_SYNTAX):
                if native:
                    return FrameChoice(OCTET_STREAM, DEFAULT_TRANSFER_SYNTAX, False)
                if stored in FRAME_MEDIA_TYPES:
                    return FrameChoice(OCTET_STREAM, DEFAULT_TRANSFER_SYNTAX, True)
                continue
            if ts == stored:
                return FrameChoice(OCTET_STREAM, stored, False)
            continue
        if FRAME_MEDIA_TYPES.get(stored) == part and ts in (None, ANY_TRANSFER_SYNTAX, stored):
            return FrameChoice(part, stored, False)
    return None


def wants_dicom_xml(accept: list[MediaType], what: str) -> bool:
    """For QIDO results and metadata: JSON (``application/dicom+json``, ``application/json``,
    ``*/*``) unless the client prefers ``multipart/related; type="application/dicom+xml"``;
    406 when it accepts neither."""
    for media in accept:
        if media.matches(DICOM_JSON) or media.matches(JSON):
            return False
        if media.essence == MULTIPART_RELATED and multipart_type(media) == DICOM_XML:
            return True
    raise NotAcceptable(
        f'{what} is application/dicom+json or multipart/related; type="application/dicom+xml"'
    )


ZIP = "application/zip"


def prefers_zip(accept: list[MediaType]) -> bool:
    """True when the client's best acceptable answer for a study or series is a zip (Sup 211)."""
    for media in accept:
        if media.essence == ZIP:
            return True
        if media.matches(MULTIPART_RELATED) or media.matches(APPLICATION_DICOM):
            return False
    return False
