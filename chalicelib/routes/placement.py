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

Each route says which function serves it (``Route.pixels`` in its route module;
``routes/table.serves_pixels``); API Gateway sends each route to its function (``infra/build.py``
rewrites the integrations of the pixel routes). Locally one process serves both, with
everything installed.
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
