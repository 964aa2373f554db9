"""Deterministic synthetic DICOM for benchmarks (seeded; no downloads)."""

from __future__ import annotations

import io
import random
import zlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, RLELossless

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
        patient = zlib.crc32(study.encode()) % 7  # the same for every instance of a study
        ds = ct_header(
            study,
            series,
            self.uid(),
            number,
            size,
            patient=(f"Bench^Patient{patient}", f"BENCH-{patient}"),
            accession=f"BA{patient}",
            study_date="20250101",
        )
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        pixels = np.random.default_rng(self._rng.randrange(2**32)).integers(
            0, 4096, (size, size), dtype=np.uint16
        )
        ds.PixelData = pixels.tobytes()
        return part10(ds)


def ct_header(
    study: str,
    series: str,
    sop: str,
    number: int,
    size: int,
    *,
    patient: tuple[str, str],
    accession: str,
    study_date: str,
    series_number: int = 1,
) -> Dataset:
    """A 16-bit monochrome CT image's data set, all but its Pixel Data."""
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.Modality = "CT"
    ds.PatientName, ds.PatientID = patient
    ds.StudyDate = study_date
    ds.StudyTime = "120000"
    ds.AccessionNumber = accession
    ds.SeriesNumber = series_number
    ds.InstanceNumber = number
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    return ds


def part10(ds: Dataset) -> bytes:
    """A data set as an Explicit VR Little Endian Part 10 file."""
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


# --- a corpus for side-by-side benchmarks (bench/runner.py) -------------------------------

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


@dataclass(frozen=True)
class Instance:
    """One generated Part 10 file and where it belongs."""

    study: str
    series: str
    sop: str
    kind: str  # "CT", "MR", "CT multi-frame", "CT RLE", "CT JPEG 2000"
    data: bytes


@dataclass(frozen=True)
class Corpus:
    """Seeded patients x studies x series x instances, plus a compressed study and a
    100-frame instance. The same seed gives the same bytes (UIDs included)."""

    instances: list[Instance]
    patients: list[str]  # PatientIDs
    dates: list[str]  # StudyDate of each study, in order

    @property
    def nbytes(self) -> int:
        return sum(len(i.data) for i in self.instances)

    def of_kind(self, kind: str) -> list[Instance]:
        return [i for i in self.instances if i.kind == kind]


def phantom(
    rng: np.random.Generator, size: int, shift: int, modality: str
) -> npt.NDArray[np.uint16]:
    """A body-like ellipse with two inserts and noise: compresses like an image, not like noise
    (random pixels make RLE and JPEG 2000 look useless)."""
    y, x = np.ogrid[:size, :size]
    c = size / 2
    body = ((x - c) / (0.42 * size)) ** 2 + ((y - c) / (0.33 * size)) ** 2 <= 1
    insert = (x - c - 0.15 * size) ** 2 + (y - c + shift % 20) ** 2 <= (0.06 * size) ** 2
    bone = (x - c + 0.18 * size) ** 2 + (y - c) ** 2 <= (0.05 * size) ** 2
    base, tissue, contrast, dense = (
        (0, 1064, 1200, 2200) if modality == "CT" else (0, 400, 900, 150)
    )
    img = np.full((size, size), base, dtype=np.float64)
    img[body] = tissue
    img[body & insert] = contrast
    img[body & bone] = dense
    img += rng.normal(0, 12, (size, size))
    return np.clip(img, 0, 4095).astype(np.uint16)


def _image(
    gen: Generator,
    study: str,
    series: str,
    number: int,
    modality: str,
    patient: int,
    date: str,
    size: int = 512,
    frames: int = 1,
) -> Dataset:
    ds = Dataset()
    ds.SOPClassUID = CT_IMAGE_STORAGE if modality == "CT" else MR_IMAGE_STORAGE
    ds.SOPInstanceUID = gen.uid()
    ds.StudyInstanceUID = study
    ds.SeriesInstanceUID = series
    ds.Modality = modality
    ds.PatientName = f"Bench^Patient{patient}"
    ds.PatientID = f"BENCH-{patient}"
    ds.PatientBirthDate = "19700101"
    ds.PatientSex = "O"
    ds.StudyDate = ds.SeriesDate = date
    ds.StudyTime = "120000"
    ds.StudyID = "1"
    ds.AccessionNumber = f"BA{patient}{date}"
    ds.StudyDescription = f"Bench {modality}"
    ds.SeriesDescription = f"Bench {modality} series"
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.Rows = ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    if modality == "CT":
        ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
        ds.WindowCenter, ds.WindowWidth = 40, 400
    else:
        ds.WindowCenter, ds.WindowWidth = 600, 1200
    rng = np.random.default_rng(gen._rng.randrange(2**32))
    if frames > 1:
        ds.NumberOfFrames = frames
    planes = [phantom(rng, size, number + f, modality) for f in range(frames)]
    ds.PixelData = b"".join(p.tobytes() for p in planes)
    return ds


def compressed(ds: Dataset, transfer_syntax: str) -> bytes:
    """A copy of ``ds`` compressed with pydicom's encoders (RLE: pydicom's own; JPEG 2000
    Lossless: pylibjpeg-openjpeg), as a Part 10 file."""
    copy = dcmread(io.BytesIO(part10(ds)))
    copy.compress(transfer_syntax, generate_instance_uid=False)
    buf = io.BytesIO()
    copy.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def corpus(
    seed: int = 1,
    patients: int = 6,
    studies: int = 2,
    series: int = 2,
    instances: int = 6,
    compressed_instances: int = 4,
) -> Corpus:
    """``patients`` x ``studies`` x ``series`` x ``instances`` of 512x512 16-bit (12 stored)
    images, CT and MR alternating by study, each study on its own date in 2025; then one study
    of ``compressed_instances`` RLE Lossless and as many JPEG 2000 Lossless CT instances (two
    series), and one 100-frame 128x128 CT instance (3.3 MB: one STOW fits the Lambda
    payload) in a study of its own."""
    gen = Generator(seed)
    out: list[Instance] = []
    dates: list[str] = []
    for p in range(patients):
        for s in range(studies):
            n = len(dates)
            date = f"2025{1 + n % 12:02d}{1 + (n * 7) % 28:02d}"
            dates.append(date)
            modality = "CT" if (p + s) % 2 == 0 else "MR"
            study = gen.uid()
            for _ in range(series):
                series_uid = gen.uid()
                for i in range(instances):
                    ds = _image(gen, study, series_uid, i + 1, modality, p, date)
                    out.append(Instance(study, series_uid, ds.SOPInstanceUID, modality, part10(ds)))
    study = gen.uid()
    dates.append("20251215")
    for kind, syntax in (("CT RLE", RLELossless), ("CT JPEG 2000", JPEG2000Lossless)):
        series_uid = gen.uid()
        for i in range(compressed_instances):
            ds = _image(gen, study, series_uid, i + 1, "CT", 0, "20251215")
            out.append(Instance(study, series_uid, ds.SOPInstanceUID, kind, compressed(ds, syntax)))
    study, series_uid = gen.uid(), gen.uid()
    dates.append("20251216")
    ds = _image(gen, study, series_uid, 1, "CT", 0, "20251216", size=128, frames=100)
    out.append(Instance(study, series_uid, ds.SOPInstanceUID, "CT multi-frame", part10(ds)))
    return Corpus(out, [f"BENCH-{p}" for p in range(patients)], dates)
