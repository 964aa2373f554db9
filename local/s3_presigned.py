"""S3's check of a presigned URL (SigV4 query-string authentication), as S3 makes it: the
parameters, the credential scope, the expiry, the signed headers and the signature, each refused
with the status, code and message S3 answers. Pure: no HTTP, no AWS; ``local/s3_gate.py`` puts
it in front of moto, which checks none of it.

Written from the SigV4 specification (not with botocore's signer), so the tests that verify
URLs botocore generates compare two implementations.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, unquote_to_bytes

from botocore.credentials import ReadOnlyCredentials

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
#: S3's longest presigned URL: seven days.
MAX_EXPIRES = 604_800
#: A URL dated later than this (seconds) is not valid yet (S3's allowed clock skew).
MAX_SKEW = 900
#: The query parameters of SigV4 query-string authentication (X-Amz-Security-Token aside).
AUTH_PARAMS = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
)
#: Signature version 2's query parameters: S3 no longer takes them in new regions.
SIGV2_PARAMS = ("AWSAccessKeyId", "Signature")
#: An x-amz- header S3 lets a presigned request carry unsigned.
IGNORED_UNSIGNED = frozenset({"x-amz-content-sha256"})
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_UNRESERVED = "-_.~"


@dataclass(frozen=True)
class S3Refusal(Exception):
    """What S3 answers instead of doing the request: status, code, message and the extra
    elements of its XML error body."""

    status: int
    code: str
    message: str
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Presigned:
    """One request as it arrived: method, path as sent (percent-encoded), raw query string,
    headers (lower-case names; repeated ones joined with commas)."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]


def _query_error(message: str, *details: tuple[str, str]) -> S3Refusal:
    return S3Refusal(400, "AuthorizationQueryParametersError", message, details)


def _pairs(query: str) -> list[tuple[bytes, bytes]]:
    """The query's (name, value) pairs, percent-decoded (``+`` stays a plus, as S3 reads it)."""
    pairs = []
    for part in query.split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote_to_bytes(name), unquote_to_bytes(value)))
    return pairs


def _encode(raw: bytes, safe: str = _UNRESERVED) -> str:
    return quote(raw, safe=safe)


def canonical_query(query: str) -> str:
    """Every parameter but the signature, names and values URI-encoded, sorted."""
    encoded = sorted(
        (_encode(name), _encode(value))
        for name, value in _pairs(query)
        if name != b"X-Amz-Signature"
    )
    return "&".join(f"{name}={value}" for name, value in encoded)


def canonical_request(request: Presigned, signed: list[str]) -> str:
    """SigV4's canonical request for S3: the path URI-encoded once, not normalised."""
    path = _encode(unquote_to_bytes(request.path or "/"), safe="/~")
    headers = "".join(
        f"{name}:{' '.join(request.headers.get(name, '').split())}\n" for name in signed
    )
    return "\n".join(
        [
            request.method.upper(),
            path,
            canonical_query(request.query),
            headers,
            ";".join(signed),
            UNSIGNED_PAYLOAD,
        ]
    )


def signing_key(secret: str, day: str, region: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _authentication(request: Presigned) -> dict[str, str]:
    """The SigV4 query parameters (first value of each); a request that carries none, or
    another kind of authentication, is refused as S3 refuses it."""
    pairs = _pairs(request.query)
    names = {name.decode("utf-8", "replace") for name, _ in pairs}
    authorization = request.headers.get("authorization")
    if not names & set(AUTH_PARAMS):
        if names & set(SIGV2_PARAMS):
            raise S3Refusal(
                400,
                "InvalidRequest",
                "The authorization mechanism you have provided is not supported. "
                "Please use AWS4-HMAC-SHA256.",
            )
        if authorization is not None:  # an SDK call: those go to moto directly
            raise S3Refusal(403, "AccessDenied", "This local S3 endpoint takes presigned URLs only")
        raise S3Refusal(403, "AccessDenied", "Access Denied")
    if authorization is not None:
        raise S3Refusal(
            400,
            "InvalidArgument",
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            (("ArgumentName", "Authorization"), ("ArgumentValue", authorization)),
        )
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name.decode("utf-8", "replace"), value.decode("utf-8", "replace"))
    if not all(p in params for p in AUTH_PARAMS):
        raise _query_error(
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and "
            "X-Amz-Expires parameters."
        )
    return params


def _scope(params: Mapping[str, str], region: str) -> tuple[str, str, float, int]:
    """(access key id, credential day, signing time, lifetime): the parameters S3 parses
    before it looks at the signature, each refused as S3 refuses it."""
    if params["X-Amz-Algorithm"] != ALGORITHM:
        raise _query_error(f'X-Amz-Algorithm only supports "{ALGORITHM}"')
    credential = params["X-Amz-Credential"].split("/")
    if len(credential) != 5:
        raise _query_error(
            "Error parsing the X-Amz-Credential parameter; the Credential is mal-formed; "
            'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
        )
    access_key, day, scope_region, service, terminal = credential
    amz_date = params["X-Amz-Date"]
    try:
        if not _AMZ_DATE.fullmatch(amz_date):
            raise ValueError(amz_date)
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise _query_error(
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
        ) from None
    if day != amz_date[:8]:
        raise _query_error(
            f'Invalid credential date "{day}". This date is not the same as X-Amz-Date: '
            f'"{amz_date[:8]}".'
        )
    if scope_region != region:
        raise _query_error(
            f"Error parsing the X-Amz-Credential parameter; the region '{scope_region}' is "
            f"wrong; expecting '{region}'",
            ("Region", region),
        )
    if service != "s3":
        raise _query_error(
            f'Error parsing the X-Amz-Credential parameter; incorrect service "{service}". '
            'This endpoint belongs to "s3".'
        )
    if terminal != "aws4_request":
        raise _query_error(
            f'Error parsing the X-Amz-Credential parameter; incorrect terminal "{terminal}". '
            'This endpoint uses "aws4_request".'
        )
    given = params["X-Amz-Expires"]
    if not re.fullmatch(r"-?[0-9]{1,12}", given):
        raise _query_error("X-Amz-Expires should be a number")
    expires = int(given)
    if expires < 0:
        raise _query_error("X-Amz-Expires must be non-negative")
    if expires > MAX_EXPIRES:
        raise _query_error("X-Amz-Expires must be less than a week (in seconds) that is 7 days")
    return access_key, day, signed_at.timestamp(), expires


def verify(request: Presigned, credentials: ReadOnlyCredentials, region: str, now: float) -> None:
    """Return if S3 would take ``request`` as a presigned URL signed with ``credentials`` in
    ``region`` at time ``now``; raise the ``S3Refusal`` S3 answers otherwise."""
    params = _authentication(request)
    access_key, day, signed_at, expires = _scope(params, region)
    if access_key != credentials.access_key:
        raise S3Refusal(
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            (("AWSAccessKeyId", access_key),),
        )
    if params.get("X-Amz-Security-Token", "") != (credentials.token or ""):
        raise S3Refusal(
            400, "InvalidToken", "The provided token is malformed or otherwise invalid."
        )
    signed = params["X-Amz-SignedHeaders"].split(";")
    unsigned = sorted(h for h in request.headers if h.startswith("x-amz-") and h not in signed)
    unsigned = [h for h in unsigned if h not in IGNORED_UNSIGNED]
    if unsigned:
        raise S3Refusal(
            403,
            "AccessDenied",
            "There were headers present in the request which were not signed",
            (("HeadersNotSigned", ", ".join(unsigned)),),
        )
    canonical = canonical_request(request, signed)
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            params["X-Amz-Date"],
            f"{day}/{region}/s3/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    expected = hmac.new(
        signing_key(credentials.secret_key, day, region), string_to_sign.encode(), hashlib.sha256
    ).hexdigest()
    given = params["X-Amz-Signature"]
    present = all(name in request.headers for name in signed)
    if not (hmac.compare_digest(expected.encode(), given.encode()) and present):
        raise S3Refusal(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
            (
                ("AWSAccessKeyId", access_key),
                ("StringToSign", string_to_sign),
                ("SignatureProvided", given),
                ("CanonicalRequest", canonical),
            ),
        )
    if signed_at > now + MAX_SKEW:
        raise S3Refusal(403, "AccessDenied", "Request is not valid yet")
    if now >= signed_at + expires:
        raise S3Refusal(
            403,
            "AccessDenied",
            "Request has expired",
            (
                ("X-Amz-Expires", str(expires)),
                ("Expires", _iso(signed_at + expires)),
                ("ServerTime", _iso(now)),
            ),
        )
