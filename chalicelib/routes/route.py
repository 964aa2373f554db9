"""A route is one declaration: method, path, scope, the service call, its OpenAPI description
and the function that serves it.

Route modules hold a tuple ``ROUTES`` of these, one line each, as Orthanc's DICOMweb plugin has
its route table; ``routes/table.py`` registers them all. The handler receives the services
(``Deps``) and the parsed request (``Call``) and returns the service's ``Answer``; it never
builds a response (``routes/respond.py`` does, for every route).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from chalicelib.dicomweb.errors import Unauthorized
from chalicelib.dicomweb.media import MediaType, parse_accept
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef, path_uid
from chalicelib.openapi import Operation
from chalicelib.services.answers import Answer
from chalicelib.services.ports import Principal

if TYPE_CHECKING:
    from chalicelib.routes.deps import Deps


class Call:
    """One request as a route sees it: who calls, the decoded path parameters, the query, the
    headers (case-insensitive), the body and the DICOMweb root it was sent to."""

    def __init__(
        self,
        principal: Principal | None,
        path: Mapping[str, str],
        query: Mapping[str, list[str]],
        headers: Mapping[str, str],
        body: bytes,
        base_url: str,
        host: str,
    ) -> None:
        self.principal = principal
        self.path = path
        self.query = query
        self.headers = headers
        self.body = body
        self.base_url = base_url
        self.host = host

    @property
    def tenant(self) -> str:
        if self.principal is None:
            raise Unauthorized("an API key is required")
        return self.principal.tenant

    def header(self, name: str) -> str | None:
        value = self.headers.get(name)
        return str(value) if value is not None else None

    def uid(self, name: str) -> str:
        """A path UID, validated (400 InvalidUID otherwise)."""
        return path_uid(self.path[name], name)

    def param(self, name: str, default: str | None = None) -> str | None:
        """A query parameter's last value (as a dict of the query string keeps it)."""
        values = self.query.get(name)
        return values[-1] if values else default

    @property
    def params(self) -> dict[str, str]:
        return {name: values[-1] for name, values in self.query.items() if values}

    @cached_property
    def accept(self) -> list[MediaType]:
        return parse_accept(self.header("accept"))

    def study(self) -> StudyRef:
        return StudyRef(self.tenant, self.uid("study"))

    def series(self) -> SeriesRef:
        return SeriesRef(self.tenant, self.uid("study"), self.uid("series"))

    def instance(self) -> InstanceRef:
        return InstanceRef(self.tenant, self.uid("study"), self.uid("series"), self.uid("instance"))


Handler = Callable[["Deps", Call], Answer]

#: The methods a path of the table may be asked for: those its routes do not serve answer 405
#: with ``Allow`` (``routes/table.py``). HEAD and OPTIONS are not among them: OPTIONS is the
#: CORS preflight, HEAD is not supported (API Gateway's 404).
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    #: the API key scope it needs (read, write, delete); None: public, no key
    scope: str | None
    #: the operation id (and Chalice's view name)
    name: str
    handler: Handler
    doc: Operation
    #: served by the pixel function: the route may decode or encode pixel data (numpy, Pillow
    #: and the codecs are in that function's layer only; ``infra/build.py``)
    pixels: bool = False
    #: served by the store function: the route writes the catalog (the indexer's reconcile,
    #: inline), the only HTTP routes that may (``infra/build.py``; issue 23's least privilege)
    writes: bool = False


def get(path: str, name: str, handler: Handler, doc: Operation, **kw: Any) -> Route:
    """A read-scoped GET, the most common route."""
    return Route("GET", path, kw.pop("scope", "read"), name, handler, doc, **kw)
