"""Which Lambda function serves which route.

The deployed stack has three API functions built from the same code (``infra/build.py``):

- the *API* function, whose package holds no numpy, Pillow or JPEG codecs: QIDO, metadata,
  bulk data, uploads, imports, the change feed and the OpenAPI document. pydicom runs there
  without numpy (it is an optional dependency of pydicom), so a cold start on these paths
  never loads a pixel library. Its role reads the catalog and never writes it;
- the *pixel* function, the same code plus a layer with numpy, Pillow and the pylibjpeg
  codecs: every route that may decode or encode pixel data. That is rendering and thumbnails,
  WADO-URI, frames (decoded when the client asks for another transfer syntax), and study,
  series and instance retrieval (transcoded on request). It has more memory, which is
  also more CPU for decoding. Its role writes only its caches (``derived/``);
- the *store* function, the API function's package: the routes that write the catalog (STOW
  through the API, when the stack runs without the streaming receiver, and DELETE), which run
  the indexer's reconcile inline. Its role is the only HTTP one that writes the catalog.

Each route says which function serves it (``Route.pixels`` and ``Route.writes`` in its route
module; ``routes/table.serves_pixels`` and ``writes_catalog``); API Gateway sends each route to
its function (``infra/build.py`` rewrites the integrations). Locally one process serves all,
with everything installed.
"""

from __future__ import annotations

#: The distributions that only the pixel function carries (normalized names, as in
#: ``infra.build.normalize``): pydicom imports them when they are installed, and they are
#: about half of the API function's import time.
PIXEL_DISTRIBUTIONS = frozenset(
    {"numpy", "pillow", "pylibjpeg", "pylibjpeg_openjpeg", "pylibjpeg_libjpeg"}
)
#: Their top-level modules (what ``import`` names).
PIXEL_MODULES = frozenset({"numpy", "PIL", "pylibjpeg", "openjpeg", "libjpeg"})
