"""Transfer-syntax conversion of instances and frames, with pydicom and the pylibjpeg plugins.

pydicom, numpy and the codecs are imported here, on first use: the QIDO and STOW paths never
load them, and a retrieve only when it converts (the syntaxes are literal UIDs, PS3.5 A, so
negotiating does not import pydicom; ``tests/unit/services/test_transcode.py`` checks them).
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from chalicelib.dicomweb.errors import NotAcceptable
from chalicelib.dicomweb.media import EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN

DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
RLE_LOSSLESS = "1.2.840.10008.1.2.5"
JPEG_2000_LOSSLESS = "1.2.840.10008.1.2.4.90"

#: Syntaxes the service can write (decoding any syntax pydicom's plugins can read first).
UNCOMPRESSED_TARGETS = {EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN}
TARGETS = UNCOMPRESSED_TARGETS | {
    DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    RLE_LOSSLESS,
    JPEG_2000_LOSSLESS,
}


def can_write(transfer_syntax: str) -> bool:
    return transfer_syntax in TARGETS


def transcode(data: bytes, target: str) -> bytes:
    """The instance re-encoded in ``target``; 406 when its pixel data cannot be decoded or
    encoded that way."""
    import pydicom
    from pydicom.uid import UID

    ds = pydicom.dcmread(BytesIO(data))
    source = UID(str(ds.file_meta.TransferSyntaxUID))
    if source == target:
        return data
    try:
        # the same instance in another syntax: pydicom would otherwise give it a new
        # SOP Instance UID, and the client would get another instance than it asked for
        if source.is_compressed and "PixelData" in ds:
            ds.decompress(generate_instance_uid=False)
        if target in (RLE_LOSSLESS, JPEG_2000_LOSSLESS):
            ds.compress(UID(target), generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = UID(target)
        out = BytesIO()
        ds.save_as(
            out,
            enforce_file_format=True,
            implicit_vr=target == IMPLICIT_VR_LITTLE_ENDIAN,
            little_endian=True,
        )
    except Exception as exc:  # pydicom raises many types for data it cannot convert
        raise NotAcceptable(
            f"the instance cannot be converted from {source} to {target} ({type(exc).__name__})"
        ) from exc
    return out.getvalue()


def decode_frame(frame: bytes, transfer_syntax: str, attrs: dict[str, Any]) -> bytes:
    """One encapsulated frame -> native little-endian pixel bytes (406 if undecodable)."""
    from pydicom.encaps import encapsulate
    from pydicom.pixels.decoders.base import get_decoder
    from pydicom.uid import UID

    try:
        decoder = get_decoder(UID(transfer_syntax))
        arr, _ = decoder.as_array(encapsulate([frame], has_bot=False), **attrs)
    except Exception as exc:
        raise NotAcceptable(
            f"the frame cannot be decoded from {transfer_syntax} ({type(exc).__name__})"
        ) from exc
    return bytes(arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes())
