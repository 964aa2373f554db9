"""What the front of the service (CloudFront in AWS, ``local/front.py`` under ``make serve``)
and its two origins (API Gateway + Lambda, the streaming STOW receiver) agree on.

* Which requests go to the STOW receiver: ``is_stow``. ``infra/`` writes the same pattern into
  the CloudFront Function; ``tests/infra`` runs that function in Node.js against ``is_stow``.
* The DICOMweb root every URL in an answer starts with (RetrieveURL, BulkDataURI, upload
  status, OpenAPI ``servers``): ``public_root``. A configured root (``PUBLIC_ROOT``: a custom
  domain, or the URL ``make serve`` prints) wins; else the root the front names in
  ``ROOT_HEADER``, trusted only when the request also carries the origin secret the front adds
  (``SECRET_HEADER``, which a viewer cannot know); else the request's own Host (a direct call,
  the tests). Never a client's Host behind the front: the receiver would see the load
  balancer's host, API Gateway's context the execute-api host.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable

#: STOW-RS paths (PS3.18 10.5): POST /studies and POST /studies/{StudyInstanceUID}. The
#: pattern is plain ECMAScript and Python regex syntax: the CloudFront Function uses it as is.
STOW_PATH_PATTERN = r"^/studies(/[^/]+)?/?$"
_STOW_PATH = re.compile(STOW_PATH_PATTERN)

#: Set by the front to the root the client used; ignored without the secret.
ROOT_HEADER = "x-dicomweb-root"
#: Added by the front (a CloudFront origin custom header) to every request it forwards.
SECRET_HEADER = "x-dicomweb-origin-secret"  # noqa: S105  # a header name, not a secret


def is_stow(method: str, path: str) -> bool:
    """True for the requests the streaming STOW receiver serves."""
    return method.upper() == "POST" and _STOW_PATH.match(path) is not None


def public_root(
    header: Callable[[str], str | None], configured: str, secret: str, fallback: str
) -> str:
    """The DICOMweb root of a request: ``configured``, else the front's ``ROOT_HEADER`` when
    ``SECRET_HEADER`` matches ``secret``, else ``fallback`` (from the request's Host)."""
    if configured:
        return configured.rstrip("/")
    named = header(ROOT_HEADER)
    given = header(SECRET_HEADER)
    if named and secret and given and hmac.compare_digest(given.encode(), secret.encode()):
        return named.rstrip("/")
    return fallback
