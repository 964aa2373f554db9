"""Rendered images and thumbnails, decoded with Pillow: dimensions, viewport, windows,
MONOCHROME1, color, a JPEG 2000 source, caching, every level."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from tests.factories import PYDICOM_TEST_FILES, dataset, to_bytes, uid

PNG = {"Accept": "image/png"}


def store(stack, data: bytes) -> str:
    r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200, r.text
    return "/" + r.json()["00081199"]["Value"][0]["00081190"]["Value"][0].split("/", 3)[3]


def image(r) -> Image.Image:
    assert r.status_code == 200, r.text
    return Image.open(io.BytesIO(r.content))


def ramp(rows=32, columns=64, **kw):
    ds = dataset(rows=rows, columns=columns, **kw)
    pixels = np.tile(np.linspace(0, 1000, columns).astype(np.uint16), (rows, 1))
    ds.PixelData = pixels.tobytes()
    return ds


def test_default_jpeg_and_png_dimensions(stack):
    path = store(stack, to_bytes(ramp()))
    r = stack.get(f"{path}/rendered")
    assert r.headers["Content-Type"] == "image/jpeg"
    assert image(r).size == (64, 32)
    png = image(stack.get(f"{path}/rendered", headers=PNG))
    assert png.format == "PNG" and png.mode == "L"
    gif = image(stack.get(f"{path}/rendered", headers={"Accept": "image/gif"}))
    assert gif.format == "GIF"
    assert stack.get(f"{path}/rendered", headers={"Accept": "image/tiff"}).status_code == 406


def test_viewport_scales_and_crops(stack):
    path = store(stack, to_bytes(ramp()))
    assert image(stack.get(f"{path}/rendered", params={"viewport": "32,32"})).size == (32, 16)
    cropped = image(
        stack.get(f"{path}/rendered", params={"viewport": "16,16,0,0,16,16"}, headers=PNG)
    )
    assert cropped.size == (16, 16)
    flipped = np.asarray(
        image(stack.get(f"{path}/rendered", params={"viewport": "64,32,64,0,-64,32"}, headers=PNG))
    )
    plain = np.asarray(
        image(stack.get(f"{path}/rendered", params={"viewport": "64,32"}, headers=PNG))
    )
    assert np.array_equal(flipped, plain[:, ::-1])
    for bad in ("0,10", "a,b", "10", "10,10,0,0,0,5"):
        assert stack.get(f"{path}/rendered", params={"viewport": bad}).status_code == 400


def test_window_changes_pixel_values(stack):
    ds = ramp(WindowCenter=500, WindowWidth=1000)
    path = store(stack, to_bytes(ds))
    default = np.asarray(image(stack.get(f"{path}/rendered", headers=PNG)), dtype=int)
    narrow = np.asarray(
        image(stack.get(f"{path}/rendered", params={"window": "200,100"}, headers=PNG)), dtype=int
    )
    assert default[0, 0] == 0 and default[0, -1] == 255
    assert 100 < default[0, 32] < 160  # the dataset's window: mid-gray in the middle
    assert narrow[0, 32] == 255  # 500 is far above the narrow window
    assert narrow[0, 0] == 0
    sigmoid = np.asarray(
        image(stack.get(f"{path}/rendered", params={"window": "500,1000,SIGMOID"}, headers=PNG))
    )
    assert 0 < sigmoid[0, 0] < sigmoid[0, -1] < 255
    for bad in ("1", "a,b", "10,0", "10,10,cubic"):
        assert stack.get(f"{path}/rendered", params={"window": bad}).status_code == 400
    assert stack.get(f"{path}/rendered", params={"quality": "0"}).status_code == 400


def test_monochrome1_is_inverted(stack):
    m2 = np.asarray(image(stack.get(f"{store(stack, to_bytes(ramp()))}/rendered", headers=PNG)))
    m1 = ramp(PhotometricInterpretation="MONOCHROME1")
    inverted = np.asarray(image(stack.get(f"{store(stack, to_bytes(m1))}/rendered", headers=PNG)))
    assert np.array_equal(inverted, 255 - m2)


@pytest.mark.parametrize("name", ["SC_rgb_rle.dcm", "SC_rgb_dcmtk_+eb+cy+n1.dcm"])
def test_color_sources(stack, name):
    """RGB (RLE) and YBR_FULL (JPEG) sources become RGB images with a red top band."""
    rgb = image(
        stack.get(f"{store(stack, (PYDICOM_TEST_FILES / name).read_bytes())}/rendered", headers=PNG)
    )
    assert rgb.mode == "RGB"
    red = np.asarray(rgb)[2, 2].astype(int)
    assert red[0] > 200 and red[1] < 60 and red[2] < 60


def test_jpeg2000_source(stack):
    j2k = image(
        stack.get(f"{store(stack, (PYDICOM_TEST_FILES / 'JPEG2000.dcm').read_bytes())}/rendered")
    )
    assert j2k.size == (256, 1024)
    assert np.asarray(j2k).std() > 10  # an image, not a flat field


def test_frames_and_levels(stack):
    study, series = uid(), uid()
    multi = dataset(study=study, series=series, rows=16, columns=16, frames=3, InstanceNumber=1)
    other = dataset(study=study, series=series, rows=20, columns=10, InstanceNumber=2)
    path = store(stack, to_bytes(multi))
    store(stack, to_bytes(other))
    stack.drain()
    assert image(stack.get(f"{path}/frames/3/rendered")).size == (16, 16)
    assert stack.get(f"{path}/frames/4/rendered").status_code == 404
    assert stack.get(f"{path}/frames/1,2/rendered").status_code == 400
    # the series' and study's representative image: the middle instance by InstanceNumber
    assert image(stack.get(f"/studies/{study}/series/{series}/rendered")).size == (10, 20)
    assert image(stack.get(f"/studies/{study}/rendered")).size == (10, 20)
    assert stack.get(f"/studies/{uid()}/rendered").status_code == 404


def test_thumbnails_at_every_level_are_cached(stack):
    study, series = uid(), uid()
    big = ramp(rows=300, columns=600, study=study, series=series)
    path = store(stack, to_bytes(big))
    stack.drain()
    for url in (
        f"/studies/{study}/thumbnail",
        f"/studies/{study}/series/{series}/thumbnail",
        f"{path}/thumbnail",
        f"{path}/frames/1/thumbnail",
    ):
        assert image(stack.get(url)).size == (128, 64), url
    stack.counter.reset()
    assert image(stack.get(f"{path}/thumbnail")).size == (128, 64)
    # a cache hit: the thumbnail object only, the 360 kB instance is not read
    s3 = stack.counter.snapshot()["s3.GetObject"]
    assert s3["calls"] == 1 and s3["bytes_received"] < 20_000
    assert image(stack.get(f"{path}/thumbnail", params={"viewport": "64,64"})).size == (64, 32)


@pytest.mark.parametrize("path", ["/studies/1.2/thumbnail", "/studies/1.2/rendered"])
def test_unknown_study_is_404(stack, path):
    assert stack.get(path).status_code == 404


def test_viewport_regions_are_bounded_and_clipped_to_the_image(stack):
    """Issue 23: a region of any finite size is clamped to the image, never a 5xx and never a
    canvas larger than the image; a region reaching outside is clipped to it, one wholly
    outside renders black (|sw|, |sh| clamped to the image); only zero or non-finite region
    values are a 400."""
    path = store(stack, to_bytes(ramp()))  # 64 x 32
    for bad in ("10,10,0,0,inf,5", "10,10,0,0,nan,5", "10,10,0,0,0,5", "10,10,0,0,5,0"):
        r = stack.get(f"{path}/rendered", params={"viewport": bad})
        assert r.status_code == 400, (bad, r.text)
        assert "viewport" in r.json()["error"]["message"]
    for outside in (
        "10,10,0,0,-999999,-999999",  # back from the origin: no pixel of the image
        "10,10,1e300,0,5,5",
        "64,64,1000,1000,13000,13000",
        "10,10,-100,0,50,32",
        "10,10,0,32,64,5",
    ):
        r = stack.get(f"{path}/rendered", params={"viewport": outside}, headers=PNG)
        assert r.status_code == 200, (outside, r.text)
        black = np.asarray(image(r))
        assert black.max() == 0 and max(black.shape[:2]) <= 64, (outside, black.shape)
    # finite but huge: clamped to the image (a 64 x 32 region, the 10 x 10 viewport fits 10 x 5)
    huge = image(stack.get(f"{path}/rendered", params={"viewport": "10,10,0,0,1e300,1e300"}))
    assert huge.size == (10, 5)
    # 13000 x 13000 from the origin: only the 64 x 32 image is cropped, then scaled to fit
    clipped = image(stack.get(f"{path}/rendered", params={"viewport": "64,64,0,0,13000,13000"}))
    assert clipped.size == (64, 32)
    plain = np.asarray(
        image(stack.get(f"{path}/rendered", params={"viewport": "64,32"}, headers=PNG))
    )
    whole = np.asarray(
        image(
            stack.get(f"{path}/rendered", params={"viewport": "64,32,-50,-50,200,200"}, headers=PNG)
        )
    )
    assert np.array_equal(whole, plain)
    # a flip clipped too: from x=64 back past 0
    flipped = np.asarray(
        image(
            stack.get(f"{path}/rendered", params={"viewport": "64,32,64,0,-500,500"}, headers=PNG)
        )
    )
    assert np.array_equal(flipped, plain[:, ::-1])
    # a thumbnail with such a viewport too: black, not a 5xx
    r = stack.get(f"{path}/thumbnail", params={"viewport": "10,10,0,0,-999999,-999999"})
    assert r.status_code == 200 and np.asarray(image(r)).max() == 0
