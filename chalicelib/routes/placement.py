"""Which Lambda function serves which route.

The deployed stack has two API functions built from the same code (``infra/build.py``):

- the *API* function, whose package holds no numpy, Pillow or JPEG codecs: QIDO, STOW,
  metadata, bulk data, DELETE, uploads, imports, the change feed and the OpenAPI document.
  pydicom runs there without numpy (it is an optional dependency of pydicom), so a cold start
  on these paths never loads a pixel library;
- the *pixel* function, the same code plus a layer with numpy, Pillow and the pylibjpeg
  codecs: every route that may decode or encode pixel data. That is rendering and thumbnails,
  WADO-URI, frames (decoded when the client asks for another transfer syntax), and study,
  series and instance retrieval (transcoded on request). It has more memory, which is
  also more CPU for decoding.

API Gateway sends each route to its function (``infra/build.py`` rewrites the integration of
the routes below). Locally one process serves both, with everything installed.
"""

from __future__ import annotations

#: The instance route, the root of every per-instance route.
INSTANCE = "/studies/{study}/series/{series}/instances/{instance}"

#: Routes (GET) that can decode or encode pixel data, beyond those ending in PIXEL_SUFFIXES.
PIXEL_PATHS = frozenset(
    {
        "/studies/{study}",
        "/studies/{study}/series/{series}",
        INSTANCE,
        INSTANCE + "/frames/{frames}",
        "/wado",
    }
)
PIXEL_SUFFIXES = ("/rendered", "/thumbnail")  # at every level, frames included

#: The distributions that only the pixel function carries (normalized names, as in
#: ``infra.build.normalize``): pydicom imports them when they are installed, and they are
#: about half of the API function's import time.
PIXEL_DISTRIBUTIONS = frozenset(
    {"numpy", "pillow", "pylibjpeg", "pylibjpeg_openjpeg", "pylibjpeg_libjpeg"}
)
#: Their top-level modules (what ``import`` names).
PIXEL_MODULES = frozenset({"numpy", "PIL", "pylibjpeg", "openjpeg", "libjpeg"})


def serves_pixels(path: str, method: str) -> bool:
    """True when the route ``method path`` (Chalice's path template) may touch pixel data."""
    if method.upper() != "GET":
        return False
    return path in PIXEL_PATHS or path.endswith(PIXEL_SUFFIXES)
