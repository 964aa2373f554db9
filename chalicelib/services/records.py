"""Dataset -> catalog record: what the indexer stores of each level."""

from __future__ import annotations

from pydicom.dataset import Dataset

from chalicelib.dicomweb import attributes
from chalicelib.dicomweb.dicomjson import select
from chalicelib.dicomweb.instance import InstanceHeader
from chalicelib.dicomweb.pixels import FrameTable
from chalicelib.dicomweb.resources import InstanceRef
from chalicelib.services.ports import InstanceRecord, JsonDict, StoredObject


def _text(value: object) -> str:
    return str(value).strip() if value is not None else ""


def build_record(
    tenant: str,
    header: InstanceHeader,
    stored: StoredObject,
    max_value_bytes: int,
    frames: FrameTable | None = None,
) -> InstanceRecord:
    ds = header.dataset
    return InstanceRecord(
        ref=InstanceRef(tenant, header.study, header.series, header.sop),
        study_attrs=select(ds, attributes.STORED["STUDY"], max_value_bytes),
        series_attrs=select(ds, attributes.STORED["SERIES"], max_value_bytes),
        instance_attrs=select(ds, attributes.STORED["INSTANCE"], max_value_bytes),
        transfer_syntax=header.transfer_syntax,
        object=stored,
        modality=_text(ds.get("Modality"))[:16],
        patient_id=_text(ds.get("PatientID"))[:64],
        accession=_text(ds.get("AccessionNumber"))[:64],
        patient_name=_text(ds.get("PatientName"))[:324],
        study_description=_text(ds.get("StudyDescription"))[:64],
        study_date=_text(ds.get("StudyDate")),
        study_time=_text(ds.get("StudyTime")),
        frames=frames.pack() if frames is not None else None,
        frames_encapsulated=bool(frames and frames.encapsulated),
        pixel_offset=header.pixel_data_offset,
    )


def select_all(ds: Dataset) -> JsonDict:
    """The instance-level attributes the catalog keeps, as DICOM JSON (no size bound)."""
    return select(ds, attributes.STORED["INSTANCE"], 1 << 20)
