"""services/render.py: a rendered image or thumbnail of an instance, or of a series' or
study's representative instance, as one Body (S3 and DynamoDB on moto, real datasets)."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from PIL import Image

from chalicelib.dicomweb.errors import NotFound
from chalicelib.dicomweb.rendering import PNG, RenderOptions, Viewport
from chalicelib.dicomweb.resources import InstanceRef, StudyRef
from chalicelib.services.render import THUMBNAIL_VIEWPORT, Render
from chalicelib.storage.keys import bundles_prefix
from tests.factories import dataset, uid
from tests.unit.services.retrieval import TENANT, Storage, storage


@pytest.fixture
def s3() -> Iterator[Storage]:
    yield from storage()


@pytest.fixture
def series(s3: Storage) -> list[InstanceRef]:
    study, series = uid(), uid()
    return [
        s3.put(dataset(study=study, series=series, rows=256, columns=256, InstanceNumber=n))
        for n in (3, 1, 2)
    ]


def size_of(image: bytes) -> tuple[int, int]:
    return Image.open(io.BytesIO(image)).size  # type: ignore[no-any-return]


def test_instance_rendered_as_one_body(s3: Storage, series: list[InstanceRef]) -> None:
    body = Render(s3.store, s3.reads).render_image(series[0], 1, RenderOptions(), False)
    assert s3.calls() == {"GetObject": 1}
    assert body.media_type == "image/jpeg" and not body.multipart
    assert body.parts[0].content[:2] == b"\xff\xd8"  # type: ignore[index]
    assert body.spill_to == bundles_prefix(TENANT, series[0].study)
    png = Render(s3.store, s3.reads).render_image(series[0], 1, RenderOptions(PNG), False)
    assert png.media_type == PNG and png.parts[0].content[:4] == b"\x89PNG"  # type: ignore[index]


def test_series_and_study_render_their_middle_image(s3: Storage, series: list[InstanceRef]) -> None:
    render = Render(s3.store, s3.reads)
    middle = render.render_image(series[2], 1, RenderOptions(PNG), False)  # InstanceNumber 2
    of_series = render.render_image(series[0].series_ref, 1, RenderOptions(PNG), False)
    of_study = render.render_image(series[0].study_ref, 1, RenderOptions(PNG), False)
    assert of_series.parts == middle.parts == of_study.parts


def test_thumbnails_are_computed_once(s3: Storage, series: list[InstanceRef]) -> None:
    render = Render(s3.store, s3.reads)
    first = render.render_image(series[0], 1, RenderOptions(), True)
    assert size_of(first.parts[0].content) == (THUMBNAIL_VIEWPORT.width, THUMBNAIL_VIEWPORT.height)  # type: ignore[arg-type]
    s3.counter.reset()
    again = render.render_image(series[0], 1, RenderOptions(), True)
    assert again.parts == first.parts
    assert s3.calls() == {"GetItem": 1, "GetObject": 1}  # the cached thumbnail only
    small = render.render_image(series[0], 1, RenderOptions(viewport=Viewport(32, 32)), True)
    assert size_of(small.parts[0].content) == (32, 32)  # type: ignore[arg-type]


def test_nothing_to_render(s3: Storage, series: list[InstanceRef]) -> None:
    render = Render(s3.store, s3.reads)
    with pytest.raises(NotFound):
        render.render_image(StudyRef(TENANT, uid()), 1, RenderOptions(), False)
    with pytest.raises(NotFound):
        render.render_image(InstanceRef(TENANT, uid(), uid(), uid()), 1, RenderOptions(), True)
    with pytest.raises(NotFound):
        render.render_image(series[0], 2, RenderOptions(), False)
