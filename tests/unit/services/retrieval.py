"""What the retrieval services' unit tests share: S3 and the catalog on moto, instances stored
and indexed as the service does it (the indexer's reconcile), an AWS-call counter, and
``respond()`` to turn an answer into the HTTP a client gets."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
from chalice.app import Response
from moto import mock_aws
from pydicom.dataset import Dataset

from chalicelib.config import Settings
from chalicelib.dicomweb.multipart import Part, read_multipart
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.routes.respond import respond
from chalicelib.routes.route import Call
from chalicelib.services.answers import Answer
from chalicelib.services.indexer import Indexer
from chalicelib.services.spill import Spill
from chalicelib.storage.catalog import DynamoCatalog
from chalicelib.storage.keys import instance_key
from chalicelib.storage.metering import AwsCallCounter
from chalicelib.storage.objects import S3ObjectStore
from chalicelib.storage.schema import catalog_table
from tests.factories import to_bytes

BUCKET = "retrieval"
TABLE = "catalog"
TENANT = "t1"
BASE_URL = "https://dicomweb.example"


SIGNED = "https://signed.example/"


def link(key: str, content_type: str) -> str:
    return f"{SIGNED}{key}?type={content_type}"


class Storage:
    """S3 and the catalog of one test."""

    def __init__(self) -> None:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(**catalog_table(TABLE))
        self.counter = AwsCallCounter()
        self.counter.attach(s3)
        self.counter.attach(dynamodb)
        self.store = S3ObjectStore(s3, BUCKET)
        self.catalog = DynamoCatalog(dynamodb, TABLE)
        self.reads = self.catalog.reads
        self._indexer = Indexer(self.store, self.catalog, Settings())

    def put(self, ds: Dataset, *, index: bool = True) -> InstanceRef:
        """Store ``ds`` at its canonical key and (unless told otherwise) index it."""
        ref = InstanceRef(TENANT, ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
        key = instance_key(ref)
        self.store.put(key, to_bytes(ds), "application/dicom")
        if index:
            self._indexer.handle_key(key)
        self.counter.reset()
        return ref

    def calls(self) -> dict[str, int]:
        """Calls since the last ``put`` or ``reset``, by operation."""
        return {k.split(".")[1]: int(v["calls"]) for k, v in self.counter.snapshot().items()}

    def send(
        self, answer: Answer, limit: int = 4 * 1024 * 1024, headers: dict[str, str] | None = None
    ) -> Response:
        call = Call(None, {}, {}, headers or {}, b"", BASE_URL, "dicomweb.example")
        return respond(answer, call, Spill(self.store, link), limit)

    def followed(self, response: Response) -> tuple[str, str, bytes]:
        """(key, content type, bytes) of what a 303's Location names: the stored object
        itself or the spilled body."""
        assert response.status_code == 303
        location = header(response, "Location")
        key, _, content_type = location.removeprefix(SIGNED).partition("?type=")
        data = self.store.get(key)
        assert data is not None
        return key, content_type, data


def storage() -> Iterator[Storage]:
    with mock_aws():
        yield Storage()


def header(response: Response, name: str) -> str:
    value = response.headers[name]
    assert isinstance(value, str)
    return value


def parts_of(content_type: str, body: Any) -> list[Part]:
    """The parts of a multipart body (``content_type`` names its boundary)."""
    return read_multipart(body, content_type.rsplit("boundary=", 1)[1])


def sent_parts(response: Response) -> list[Part]:
    """The parts of a multipart response."""
    return parts_of(header(response, "Content-Type"), response.body)
