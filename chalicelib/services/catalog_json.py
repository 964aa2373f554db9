"""Catalog entries as the DICOM JSON QIDO answers: the attributes the catalog keeps of a study,
series or instance, plus what the service computes (UIDs, counts, modalities, the transfer
syntax available) and the RetrieveURL under the service's public root."""

from __future__ import annotations

from chalicelib.dicomweb.dicomjson import element, tag_hex
from chalicelib.services.ports import InstanceEntry, JsonDict, SeriesEntry, StudyEntry


def study_json(study: StudyEntry, base_url: str) -> JsonDict:
    out = dict(study.attrs)
    out[tag_hex("StudyInstanceUID")] = element("UI", study.ref.study)
    out[tag_hex("ModalitiesInStudy")] = element("CS", *study.modalities)
    out[tag_hex("NumberOfStudyRelatedSeries")] = element("IS", study.series_count)
    out[tag_hex("NumberOfStudyRelatedInstances")] = element("IS", study.instance_count)
    out[tag_hex("RetrieveURL")] = element("UR", f"{base_url}/studies/{study.ref.study}")
    return out


def series_json(series: SeriesEntry, base_url: str) -> JsonDict:
    ref = series.ref
    out = dict(series.attrs)
    out[tag_hex("StudyInstanceUID")] = element("UI", ref.study)
    out[tag_hex("SeriesInstanceUID")] = element("UI", ref.series)
    out[tag_hex("NumberOfSeriesRelatedInstances")] = element("IS", series.instance_count)
    out[tag_hex("RetrieveURL")] = element(
        "UR", f"{base_url}/studies/{ref.study}/series/{ref.series}"
    )
    return out


def instance_json(instance: InstanceEntry, base_url: str) -> JsonDict:
    ref = instance.ref
    out = dict(instance.attrs)
    out[tag_hex("StudyInstanceUID")] = element("UI", ref.study)
    out[tag_hex("SeriesInstanceUID")] = element("UI", ref.series)
    out[tag_hex("SOPInstanceUID")] = element("UI", ref.sop)
    out[tag_hex("AvailableTransferSyntaxUID")] = element("UI", instance.transfer_syntax)
    out[tag_hex("RetrieveURL")] = element(
        "UR", f"{base_url}/studies/{ref.study}/series/{ref.series}/instances/{ref.sop}"
    )
    return out
