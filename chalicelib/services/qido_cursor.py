"""QIDO's paging cursor: where a page ended, so the next one starts there at the cost of a page.

PS3.18 pages with ``offset`` and ``limit``. DynamoDB has no offset: a page at offset n reads
past n results (keys only where the key answers every filter, ``qido_plan.py``). So an answer
that may have more carries ``Link: <...&offset={next}&cursor={token}>; rel="next"``: the same
query with the standard's next offset, and a cursor naming the position the next page starts
after. A client following the link pays for its page alone, at any depth; a client that only
raises ``offset`` gets the same results, at the offset's cost.

The token is base64url of a small JSON document: the offset it stands for, the plan that made
it (``qido_plan.Plan.kind``), the query's fingerprint (resource, filters, fuzzy matching) and
the position (storage's sort keys, tenant-free: every key is built from the caller's tenant).
A cursor used with another query, plan or offset is refused (400): it would not mean the same
position.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.dicomweb.query import Query

VERSION = 1
#: The longest position: its parts are sort keys (at most 1,024 bytes each) and UIDs.
MAX_PARTS = 5


@dataclass(frozen=True)
class Cursor:
    offset: int
    plan: str
    position: tuple[str, ...]


def fingerprint(resource: str, scope: Sequence[str], query: Query) -> str:
    """What the candidates' order depends on: the resource (and the study or series it is
    under), the filters and fuzzy matching; not limit, offset or includefield."""
    filters = sorted((k, list(v)) for k, v in query.filters.items())
    shape = [resource, list(scope), filters, query.fuzzy]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def encode(cursor: Cursor, query_fingerprint: str) -> str:
    doc = {
        "v": VERSION,
        "o": cursor.offset,
        "p": cursor.plan,
        "q": query_fingerprint,
        "s": list(cursor.position),
    }
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, query_fingerprint: str, offset: int, plan: str) -> Cursor:
    """The cursor a token names, checked against the query it came back with."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        doc = json.loads(raw)
        valid = (
            isinstance(doc, dict)
            and doc.get("v") == VERSION
            and isinstance(doc.get("o"), int)
            and isinstance(doc.get("p"), str)
            and isinstance(doc.get("s"), list)
            and 0 < len(doc["s"]) <= MAX_PARTS
            and all(isinstance(p, str) and p for p in doc["s"])
        )
    except (ValueError, binascii.Error, UnicodeDecodeError):
        valid = False
    if not valid:
        raise BadRequest(
            "cursor is not one this service gave: repeat the search without it",
            code="InvalidParameter",
        )
    if doc.get("q") != query_fingerprint or doc["p"] != plan or doc["o"] != offset:
        raise BadRequest(
            "cursor belongs to another search or offset: use the next link as given, or repeat "
            "the search without it",
            code="InvalidParameter",
        )
    return Cursor(doc["o"], doc["p"], tuple(doc["s"]))
