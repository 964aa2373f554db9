"""The CLI, ``python -m dicomweb_cli upload|search|retrieve|tenants|keys|reindex ...``.

It runs from the repo, never in Lambda: it lives outside ``chalicelib/`` (which Chalice packages
whole), so neither its code nor its libraries (requests, rich: development dependencies) enter
the deployment package.

- ``cli``: the argument parser, and the people's commands: a DICOMweb client of this service
  over HTTP with an API key: ``session`` (endpoint, retries, the failure policy, exit
  statuses), ``upload`` (with ``scan``: what each file is; ``stow``: one STOW request and its
  answer matched by part position; ``presigned``: very large files and the 413 fallback;
  ``journal``: what became of each file), ``search``, ``retrieve``, ``progress``.
- ``admin``: the operators' commands, with AWS credentials: tenants and keys (the service's
  own ``chalicelib.storage.tenants``) and ``reindex`` (``chalicelib.services.reindex``).
"""
