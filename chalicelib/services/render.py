"""Rendered images (PS3.18 10.4.1.1.5, 8.3.5.1) and thumbnails (Sup 203).

Grayscale: the Modality LUT, then the window asked for (linear, linear_exact or sigmoid,
PS3.3 C.11.2.1.2) or else the dataset's own VOI (WindowCenter/Width, VOI LUT Sequence) or else
the value range; MONOCHROME1 is inverted. Color images are converted to RGB (YBR and palette
color included); 16-bit and compressed sources are decoded by pydicom's plugins. Only the
frame asked for is decoded. numpy, Pillow and the codecs are imported here, on first use.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from io import BytesIO
from typing import Any

from chalicelib.dicomweb.errors import BadRequest, NotAcceptable, NotFound, UnsupportedMediaType
from chalicelib.dicomweb.rendering import GIF, JPEG, PNG, RenderOptions, Viewport, Window
from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef
from chalicelib.services.answers import Body
from chalicelib.services.ports import CatalogReader, JsonDict, ObjectStore
from chalicelib.storage.keys import bundles_prefix, instance_key, series_derived_prefix

THUMBNAIL_VIEWPORT = Viewport(128, 128)
_FORMATS = {JPEG: "JPEG", PNG: "PNG", GIF: "GIF"}


def _window(values: Any, window: Window) -> Any:
    import numpy as np

    c, w = window.center, window.width
    if window.function == "sigmoid":
        return 255.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    if window.function == "linear_exact":
        return np.clip(((values - c) / w + 0.5) * 255.0, 0, 255)
    return np.clip(((values - (c - 0.5)) / max(w - 1, 1) + 0.5) * 255.0, 0, 255)


def _dataset_window(ds: Any) -> Window | None:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is None or width is None:
        return None
    function = str(ds.get("VOILUTFunction", "LINEAR")).strip().lower()
    if function not in ("linear", "linear_exact", "sigmoid"):
        function = "linear"
    width_value = _first_number(width)
    return Window(_first_number(center), width_value, function) if width_value > 0 else None


def _first_number(value: Any) -> float:
    """A DS value or the first of a multi-valued one."""
    from pydicom.multival import MultiValue

    return float(value[0] if isinstance(value, (MultiValue, list, tuple)) else value)


def _to_8bit(values: Any) -> Any:
    import numpy as np

    low, high = float(np.min(values)), float(np.max(values))
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return ((values - low) / (high - low) * 255.0).astype(np.uint8)


def _pixels(data: bytes, frame: int) -> tuple[Any, Any]:
    import pydicom
    from pydicom.pixels.utils import pixel_array

    ds = pydicom.dcmread(BytesIO(data), stop_before_pixels=True)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if not 1 <= frame <= frames:
        raise NotFound(f"frame {frame} does not exist (the instance has {frames})")
    if "Rows" not in ds:
        raise NotFound("the instance has no image")
    return ds, pixel_array(BytesIO(data), index=frame - 1)


def render_frame(data: bytes, frame: int, options: RenderOptions) -> bytes:
    """One frame of a stored instance as JPEG, PNG or GIF; 406 when its pixel data cannot be
    decoded or shown (an unknown Photometric Interpretation, say). The message names the
    error's type only: pydicom's messages quote the offending value."""
    try:
        return _render_frame(data, frame, options)
    except (BadRequest, NotFound, UnsupportedMediaType):
        raise
    except (ValueError, TypeError, NotImplementedError, RuntimeError, KeyError) as exc:
        raise NotAcceptable(f"the frame cannot be rendered ({type(exc).__name__})") from None


def _render_frame(data: bytes, frame: int, options: RenderOptions) -> bytes:
    import numpy as np
    from PIL import Image
    from pydicom.pixels.processing import apply_color_lut, apply_modality_lut, apply_voi_lut

    ds, arr = _pixels(data, frame)
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip()
    if photometric == "PALETTE COLOR":
        rgb = apply_color_lut(arr, ds)
        image = Image.fromarray(
            (rgb >> 8).astype(np.uint8) if rgb.dtype != np.uint8 else rgb, "RGB"
        )
    elif arr.ndim == 3:  # color, already RGB (pydicom converts YBR)
        rgb = arr if arr.dtype == np.uint8 else _to_8bit(arr)
        image = Image.fromarray(rgb.astype(np.uint8), "RGB")
    else:
        values = apply_modality_lut(arr, ds).astype(np.float64)
        window = options.window or _dataset_window(ds)
        if window is not None:
            gray = _window(values, window)
        elif "VOILUTSequence" in ds:
            gray = _to_8bit(apply_voi_lut(arr, ds).astype(np.float64))
        else:
            gray = _to_8bit(values)
        gray = np.asarray(gray, dtype=np.float64)
        if photometric == "MONOCHROME1":
            gray = 255.0 - gray
        image = Image.fromarray(np.clip(gray, 0, 255).astype(np.uint8), "L")
    if options.viewport is not None:
        image = _viewport(image, options.viewport)
    out = BytesIO()
    fmt = _FORMATS.get(options.media_type)
    if fmt is None:
        raise UnsupportedMediaType(f"cannot render {options.media_type}")
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=options.quality)
    else:
        image.save(out, fmt)
    return out.getvalue()


def _viewport(image: Any, viewport: Viewport) -> Any:
    """Crop (and flip, for negative widths/heights) the source region, then scale to fit the
    viewport with the aspect ratio kept (PS3.18 8.3.5.1.3). The region is first clipped to the
    image, so no canvas larger than the image is ever allocated (Pillow would pad a region
    reaching outside with black, however large); a region with no pixel of the image renders
    black, its |sw| and |sh| clamped to the image's size."""
    from PIL import Image

    if viewport.region is not None:
        sx, sy, sw, sh = viewport.region
        left = max(0, min(sx, sx + sw))
        top = max(0, min(sy, sy + sh))
        right = min(image.width, max(sx, sx + sw))
        bottom = min(image.height, max(sy, sy + sh))
        if left >= right or top >= bottom:
            size = (min(abs(sw), image.width), min(abs(sh), image.height))
            image = Image.new(image.mode, size)
        else:
            image = image.crop((left, top, right, bottom))
        if sw < 0:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        if sh < 0:
            image = image.transpose(Image.Transpose.FLIP_TOP_BOTTOM)
    scale = min(viewport.width / image.width, viewport.height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


# --- resources ------------------------------------------------------------------------------


def representative(catalog: CatalogReader, ref: StudyRef | SeriesRef) -> InstanceRef:
    """The image that stands for a series (its middle image by InstanceNumber) or a study
    (that of its first series with images, by SeriesNumber)."""
    if isinstance(ref, SeriesRef):
        series = [ref]
    else:
        entries = sorted(catalog.iter_series(ref), key=lambda e: _number(e.attrs, "00200011"))
        series = [e.ref for e in entries]
    for candidate in series:
        images = [e for e in catalog.iter_instances(candidate) if "00280010" in e.attrs]
        if images:
            images.sort(key=lambda e: (_number(e.attrs, "00200013"), e.ref.sop))
            return images[len(images) // 2].ref
    raise NotFound("no image to render")


def _number(attrs: JsonDict, tag: str) -> float:
    values = attrs.get(tag, {}).get("Value") or [None]
    try:
        return float(values[0])
    except (TypeError, ValueError):
        return float("inf")


class Render:
    """Rendered images and thumbnails of an instance, or of the representative instance of a
    series or study. Near the limits: an image is small next to its source; one over the
    payload limit (a huge PNG) is stored once under the study's bundles by
    ``routes/respond.py`` and answered 303, like any large answer."""

    def __init__(self, store: ObjectStore, catalog: CatalogReader) -> None:
        self._store = store
        self._catalog = catalog

    def render_image(
        self,
        target: StudyRef | SeriesRef | InstanceRef,
        frame: int,
        opts: RenderOptions,
        thumbnail: bool,
    ) -> Body:
        """The frame rendered as ``opts.media_type``: a thumbnail is computed once per stored
        object (its ETag) and kept under derived/."""
        ref = target if isinstance(target, InstanceRef) else representative(self._catalog, target)
        make = self._thumbnail if thumbnail else self._rendered
        image = make(ref, frame, opts)
        spill_to = bundles_prefix(ref.tenant, ref.study)
        return Body.single(image, opts.media_type, spill_to=spill_to)

    def _rendered(self, ref: InstanceRef, frame: int, options: RenderOptions) -> bytes:
        data = self._store.get(instance_key(ref))
        if data is None:
            raise NotFound("instance not found")
        return render_frame(data, frame, options)

    def _thumbnail(self, ref: InstanceRef, frame: int, options: RenderOptions) -> bytes:
        """A rendered image computed once and kept under derived/, keyed by the stored
        object's ETag (a re-stored instance gets a new thumbnail)."""
        entry = self._catalog.get_instance(ref)
        if entry is None:
            return self._rendered(ref, frame, options)
        viewport = options.viewport or THUMBNAIL_VIEWPORT
        key = thumbnail_key(ref, frame, viewport, options, entry.etag)
        cached = self._store.get(key)
        if cached is not None:
            return cached
        image = self._rendered(ref, frame, replace(options, viewport=viewport))
        self._store.put(key, image, options.media_type)
        return image


def thumbnail_key(
    ref: InstanceRef, frame: int, viewport: Viewport, options: RenderOptions, etag: str
) -> str:
    spec = f"{frame}-{viewport}-{options.window}-{options.quality}-{options.media_type}-{etag}"
    digest = hashlib.sha256(spec.encode()).hexdigest()[:32]
    return f"{series_derived_prefix(ref)}thumbnails/{ref.sop}/{digest}"
