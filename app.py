"""Wiring only: the Chalice app, binary types, middleware, blueprints, the SQS indexer entry.

Every route of the service is registered in the block below (the URL surface in one place).
"""

from __future__ import annotations

from typing import Any

from chalice.app import SQSEvent

from chalicelib.config import Settings
from chalicelib.observability import flush_metrics
from chalicelib.routes import imports, lifecycle, qido, rendered, stow, uploads, wado, wado_uri
from chalicelib.routes.auth import authenticate
from chalicelib.routes.chalice_app import ThreadLocalChalice
from chalicelib.routes.deps import Deps
from chalicelib.routes.http import bodiless_routes_take_any_content_type
from chalicelib.routes.indexing import handle_batch
from chalicelib.routes.observe import observe
from chalicelib.routes.openapi import blueprint as openapi_blueprint

settings = Settings.from_env()
deps = Deps(settings)

app = ThreadLocalChalice(app_name="dicomweb")
# API Gateway decides base64 by the first Accept type only, and Chalice answers 400 to binary
# responses unless every type is binary.
app.api.binary_types = ["*/*"]
app.register_middleware(observe, "http")  # registered first: it wraps authentication too
app.register_middleware(authenticate(lambda: deps.key_cache, lambda: deps.rate_limiter), "http")

# --- the URL surface -------------------------------------------------------------------------
app.register_blueprint(qido.blueprint(deps))  # GET /studies, .../series, .../instances
app.register_blueprint(stow.blueprint(deps))  # POST /studies, /studies/{study}
app.register_blueprint(wado.blueprint(deps))  # retrieve, metadata, frames, bulkdata
app.register_blueprint(rendered.blueprint(deps))  # .../rendered, .../thumbnail (4 levels)
app.register_blueprint(wado_uri.blueprint(deps))  # GET /wado?requestType=WADO&...
app.register_blueprint(lifecycle.blueprint(deps))  # DELETE study/series/instance, /changefeed
app.register_blueprint(imports.blueprint(deps))  # GET /imports/rejected
app.register_blueprint(uploads.blueprint(deps))  # POST /uploads, GET /uploads/{id}, .../complete
app.register_blueprint(openapi_blueprint(deps, lambda: app.routes))  # GET /openapi.json (no key)
bodiless_routes_take_any_content_type(app.routes)


@app.on_sqs_message(queue=settings.index_queue, batch_size=10)
def index_objects(event: SQSEvent) -> Any:
    """S3 ObjectCreated/ObjectRemoved events (through SQS) -> the catalog."""
    result = handle_batch(deps.indexer, event.to_dict(), event.context)
    flush_metrics()
    return result
