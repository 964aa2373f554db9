"""Deterministic synthetic DICOM for benchmarks (seeded; no downloads)."""

from __future__ import annotations

import io
import random
import zlib

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
ROOT = "1.2.826.0.1.3680043.10.543.9."


class Generator:
    """Patients x studies x series x instances of 512x512 16-bit CT, reproducible by seed."""

    def __init__(self, seed: int = 1) -> None:
        self._rng = random.Random(seed)
        self._n = 0

    def uid(self) -> str:
        self._n += 1
        return f"{ROOT}{self._rng.randrange(10**12)}.{self._n}"

    def ct(self, study: str, series: str, number: int, size: int = 512) -> bytes:
        ds = Dataset()
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = self.uid()
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.Modality = "CT"
        patient = zlib.crc32(study.encode()) % 7  # the same for every instance of a study
        ds.PatientName = f"Bench^Patient{patient}"
        ds.PatientID = f"BENCH-{patient}"
        ds.StudyDate = "20250101"
        ds.StudyTime = "120000"
        ds.AccessionNumber = f"BA{patient}"
        ds.SeriesNumber = 1
        ds.InstanceNumber = number
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated = ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 0
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        pixels = np.random.default_rng(self._rng.randrange(2**32)).integers(
            0, 4096, (size, size), dtype=np.uint16
        )
        ds.PixelData = pixels.tobytes()
        return part10(ds)


def part10(ds: Dataset) -> bytes:
    """A data set as an Explicit VR Little Endian Part 10 file."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()
