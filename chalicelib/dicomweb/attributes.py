"""Per-level attribute tables: what the catalog stores and QIDO returns (PS3.18 10.6.3).

The lists follow PS3.18 Table 10.6.3-3 (study), 10.6.3-4 (series) and 10.6.3-5 (instance), with
the additions Orthanc returns by default and those OHIF's study list reads. Computed attributes
(counts, ModalitiesInStudy, RetrieveURL, AvailableTransferSyntaxUID) are added by the service.
"""

from __future__ import annotations

from typing import Final

#: Stored on the study item and returned by study-level QIDO.
STUDY: Final = (
    "SpecificCharacterSet",
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "TimezoneOffsetFromUTC",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyID",
    "StudyDescription",
)

#: Stored on the series item and returned by series-level QIDO.
SERIES: Final = (
    "SpecificCharacterSet",
    "Modality",
    "TimezoneOffsetFromUTC",
    "SeriesDescription",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDate",
    "SeriesTime",
    "BodyPartExamined",
    "PerformedProcedureStepStartDate",
    "PerformedProcedureStepStartTime",
)

#: Stored on the instance item and returned by instance-level QIDO.
INSTANCE: Final = (
    "SpecificCharacterSet",
    "SOPClassUID",
    "SOPInstanceUID",
    "TimezoneOffsetFromUTC",
    "InstanceNumber",
    "ContentDate",
    "ContentTime",
    "Rows",
    "Columns",
    "BitsAllocated",
    "NumberOfFrames",
    "PhotometricInterpretation",
)

#: Stored as well and returned on request (``includefield=<keyword>`` or ``includefield=all``).
STUDY_EXTRA: Final = (
    "InstitutionName",
    "NameOfPhysiciansReadingStudy",
    "PatientAge",
    "PatientSize",
    "PatientWeight",
    "OtherPatientIDs",
    "AdmittingDiagnosesDescription",
)
SERIES_EXTRA: Final = (
    "ProtocolName",
    "Laterality",
    "OperatorsName",
    "Manufacturer",
    "ManufacturerModelName",
    "StationName",
)
INSTANCE_EXTRA: Final = (
    "ImageType",
    "AcquisitionNumber",
    "AcquisitionDate",
    "AcquisitionTime",
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "SliceLocation",
    "SamplesPerPixel",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
    "PlanarConfiguration",
    "RescaleIntercept",
    "RescaleSlope",
    "WindowCenter",
    "WindowWidth",
    "NumberOfFrames",
)

STORED: Final = {
    "STUDY": STUDY + STUDY_EXTRA,
    "SERIES": SERIES + SERIES_EXTRA,
    "INSTANCE": INSTANCE + tuple(k for k in INSTANCE_EXTRA if k not in INSTANCE),
}
DEFAULT: Final = {"STUDY": STUDY, "SERIES": SERIES, "INSTANCE": INSTANCE}

#: Study attributes with a value index (exact, prefix and bounded substring matching).
VALUE_INDEXED: Final = ("PatientID", "AccessionNumber", "StudyDescription", "PatientName")

#: Attributes the service computes; never read from a header.
COMPUTED_STUDY: Final = (
    "ModalitiesInStudy",
    "NumberOfStudyRelatedSeries",
    "NumberOfStudyRelatedInstances",
    "RetrieveURL",
)
COMPUTED_SERIES: Final = ("NumberOfSeriesRelatedInstances", "RetrieveURL")
COMPUTED_INSTANCE: Final = ("AvailableTransferSyntaxUID", "RetrieveURL")
