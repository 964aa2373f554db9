"""Wiring only: the Chalice app, binary types, middleware, the route table, the SQS indexer
entry.

Every route of the service is declared in a route module's ``ROUTES`` and registered from
``chalicelib/routes/table.py`` (the URL surface in one place).
"""

from __future__ import annotations

from typing import Any

from chalice.app import SQSEvent

from chalicelib.config import Settings
from chalicelib.observability import flush_metrics
from chalicelib.routes import table
from chalicelib.routes.auth import authenticate
from chalicelib.routes.chalice_app import ThreadLocalChalice
from chalicelib.routes.deps import Deps
from chalicelib.routes.indexing import handle_batch
from chalicelib.routes.observe import observe

settings = Settings.from_env()
deps = Deps(settings)

app = ThreadLocalChalice(app_name="dicomweb")
# API Gateway decides base64 by the first Accept type only, and Chalice answers 400 to binary
# responses unless every type is binary.
app.api.binary_types = ["*/*"]
app.register_middleware(observe, "http")  # registered first: it wraps authentication too
app.register_middleware(
    authenticate(lambda: deps.key_cache, lambda: deps.rate_limiter, table.PUBLIC_ROUTES), "http"
)
table.register(app, deps)


@app.on_sqs_message(queue=settings.index_queue, batch_size=10)
def index_objects(event: SQSEvent) -> Any:
    """S3 ObjectCreated/ObjectRemoved events (through SQS) -> the catalog."""
    result = handle_batch(deps.indexer, event.to_dict(), event.context)
    flush_metrics()
    return result
