"""Build DICOM test data by keyword with pydicom (no downloads)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

_counter = itertools.count(1)

PYDICOM_TEST_FILES = Path(pydicom.__file__).parent / "data" / "test_files"
SEED_DIR = Path(__file__).resolve().parents[2] / "shared" / "seed-dcms"


def uid() -> str:
    return generate_uid(prefix="1.2.826.0.1.3680043.10.543.")


def dataset(
    *,
    study: str | None = None,
    series: str | None = None,
    sop: str | None = None,
    modality: str = "CT",
    rows: int = 16,
    columns: int = 16,
    frames: int = 1,
    bits: int = 16,
    pixel_value: int | None = None,
    **keywords: Any,
) -> Dataset:
    """A small valid image instance; any attribute can be set by keyword."""
    n = next(_counter)
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
    ds.SOPInstanceUID = sop or uid()
    ds.StudyInstanceUID = study or uid()
    ds.SeriesInstanceUID = series or uid()
    ds.Modality = modality
    ds.PatientName = "Test^Patient"
    ds.PatientID = "PID-1"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = "20250102"
    ds.StudyTime = "101010"
    ds.AccessionNumber = "ACC-1"
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = n
    ds.Rows, ds.Columns = rows, columns
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = bits
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for key, value in keywords.items():
        setattr(ds, key, value)
    dtype = np.uint16 if bits == 16 else np.uint8
    shape = (frames, rows, columns) if frames > 1 else (rows, columns)
    if pixel_value is None:
        arr = (np.arange(np.prod(shape)) % 4096).astype(dtype).reshape(shape)
    else:
        arr = np.full(shape, pixel_value, dtype=dtype)
    ds.PixelData = arr.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def instance_bytes(**kwargs: Any) -> bytes:
    return to_bytes(dataset(**kwargs))


def multipart_body(
    parts: list[bytes], boundary: str = "test-boundary", headers: bool = True
) -> bytes:
    out = b""
    for p in parts:
        out += f"--{boundary}\r\n".encode()
        if headers:
            out += b"Content-Type: application/dicom\r\n"
        out += b"\r\n" + p + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()
