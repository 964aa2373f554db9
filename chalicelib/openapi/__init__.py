"""The OpenAPI 3.1 description of the service, served at ``GET /openapi.json``: shared pieces
in ``parts.py``, each operation beside its route, the document assembled in ``document.py``."""

from chalicelib.openapi.parts import PATH, Operation

__all__ = ["PATH", "Operation"]
