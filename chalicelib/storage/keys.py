"""The only place that formats S3 keys and catalog keys. The tenant always comes first."""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.dicomweb.resources import InstanceRef, SeriesRef, StudyRef, is_valid_uid
from chalicelib.storage.schema import DERIVED_ROOT, DICOM_ROOT, IMPORT_ROOT, REJECTED_ROOT

_TENANT = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")  # fullmatch: '$' accepts a trailing newline


def is_valid_tenant(tenant: str) -> bool:
    """Tenant ids are lower-case letters, digits and dashes: safe in every key."""
    return bool(_TENANT.fullmatch(tenant))


# --- S3 -----------------------------------------------------------------------------------


def instance_key(ref: InstanceRef) -> str:
    return f"{DICOM_ROOT}{ref.tenant}/{ref.study}/{ref.series}/{ref.sop}.dcm"


def series_prefix(ref: SeriesRef) -> str:
    return f"{DICOM_ROOT}{ref.tenant}/{ref.study}/{ref.series}/"


def study_prefix(ref: StudyRef) -> str:
    return f"{DICOM_ROOT}{ref.tenant}/{ref.study}/"


def tenant_dicom_prefix(tenant: str) -> str:
    return f"{DICOM_ROOT}{tenant}/"


def import_prefix(tenant: str) -> str:
    return f"{IMPORT_ROOT}{tenant}/"


def rejected_prefix(tenant: str) -> str:
    return f"{REJECTED_ROOT}{tenant}/"


def rejected_key(tenant: str, reason_code: int, name: str) -> str:
    """Where a rejected import is kept: the failure reason is part of the key, so listing
    rejected imports needs no per-object read."""
    return f"{REJECTED_ROOT}{tenant}/{reason_code:04X}/{name}"


def derived_prefix(tenant: str) -> str:
    return f"{DERIVED_ROOT}{tenant}/"


def series_derived_prefix(ref: SeriesRef | InstanceRef) -> str:
    return f"{DERIVED_ROOT}{ref.tenant}/{ref.study}/{ref.series}/"


def instance_metadata_key(ref: InstanceRef) -> str:
    """The instance's metadata fragment, written by the indexer."""
    return f"{series_derived_prefix(ref)}instances/{ref.sop}.json"


def instance_fragments_prefix(ref: SeriesRef) -> str:
    return f"{series_derived_prefix(ref)}instances/"


def series_metadata_key(ref: SeriesRef, version: int) -> str:
    """A series' metadata document at one catalog version: immutable once written, so
    concurrent rebuilds never overwrite each other's work with older content."""
    return f"{series_derived_prefix(ref)}metadata/v{version:010d}.json.gz"


def series_manifest_key(ref: SeriesRef, version: int) -> str:
    """Beside a series' metadata document: the ETag of each fragment it was built from, so the
    next version re-reads only the fragments that changed."""
    return f"{series_derived_prefix(ref)}metadata/v{version:010d}.etags.json.gz"


def series_metadata_version(key: str) -> int | None:
    """The catalog version a document or manifest key names (``.../metadata/v{N}.…``)."""
    name = key.rsplit("/", 1)[-1]
    digits = name[1:].split(".", 1)[0]
    return int(digits) if name.startswith("v") and digits.isdigit() else None


def series_metadata_prefix(ref: SeriesRef) -> str:
    return f"{series_derived_prefix(ref)}metadata/"


@dataclass(frozen=True)
class ObjectKey:
    """What an S3 key under a notified root names."""

    root: str  # DICOM_ROOT or IMPORT_ROOT
    tenant: str
    name: str  # the rest of the key after the tenant
    instance: InstanceRef | None = None  # set for canonical instance keys


def parse_object_key(key: str) -> ObjectKey | None:
    """Parse a key under a notified root; None for keys outside them or with a bad tenant."""
    for root in (DICOM_ROOT, IMPORT_ROOT):
        if key.startswith(root):
            tenant, sep, rest = key[len(root) :].partition("/")
            if not sep or not rest or not is_valid_tenant(tenant):
                return None
            instance = None
            if root == DICOM_ROOT:
                parts = rest.split("/")
                if (
                    len(parts) == 3
                    and parts[2].endswith(".dcm")
                    and all(is_valid_uid(p) for p in (parts[0], parts[1], parts[2][:-4]))
                ):
                    instance = InstanceRef(tenant, parts[0], parts[1], parts[2][:-4])
            return ObjectKey(root, tenant, rest, instance)
    return None


# --- catalog --------------------------------------------------------------------------------

STUDY_SK = "STUDY"
SERIES_SK_PREFIX = "SERIES#"
INSTANCE_SK_PREFIX = "INSTANCE#"
VALUE_SK_PREFIX = "V#"


def study_pk(ref: StudyRef | SeriesRef | InstanceRef) -> str:
    return f"{ref.tenant}#{ref.study}"


def series_sk(series: str) -> str:
    return f"{SERIES_SK_PREFIX}{series}"


def instance_sk(series: str, sop: str) -> str:
    return f"{INSTANCE_SK_PREFIX}{series}#{sop}"


def series_instances_prefix(series: str) -> str:
    return f"{INSTANCE_SK_PREFIX}{series}#"


def study_of(pk: str) -> StudyRef:
    """The study a partition key names (``{tenant}#{study}``)."""
    tenant, _, study = pk.partition("#")
    return StudyRef(tenant, study)


def series_of(pk: str, sk: str) -> SeriesRef:
    """The series a series item's keys name."""
    study = study_of(pk)
    return SeriesRef(study.tenant, study.study, sk.removeprefix(SERIES_SK_PREFIX))


def instance_of(pk: str, sk: str) -> InstanceRef:
    """The instance an instance item's keys name."""
    study = study_of(pk)
    series, _, sop = sk.removeprefix(INSTANCE_SK_PREFIX).partition("#")
    return InstanceRef(study.tenant, study.study, series, sop)


def uid_pk(tenant: str, uid: str) -> str:
    return f"{tenant}#{uid}"


SERIES_UID_SK_PREFIX = "SERIES#"
INSTANCE_UID_SK_PREFIX = "INSTANCE#"


def series_uid_sk(study: str) -> str:
    """The by_uid index's sort key of a series: its study."""
    return f"{SERIES_UID_SK_PREFIX}{study}"


def instance_uid_sk(study: str, series: str) -> str:
    """The by_uid index's sort key of an instance: its study and series."""
    return f"{INSTANCE_UID_SK_PREFIX}{study}#{series}"


def date_pk(tenant: str, level: str) -> str:
    return f"{tenant}#{level}"


def sort_date(date: str, time_: str) -> str:
    """StudyDate and StudyTime as 14 sortable digits (missing parts are zeros)."""
    d = (date or "").strip()[:8].ljust(8, "0")
    t = (time_ or "").strip().replace(":", "").split(".")[0][:6].ljust(6, "0")
    return d + t


def date_sk(date: str, time_: str, study: str) -> str:
    """The by_date index's sort key of a study: newest first when read backwards."""
    return f"{sort_date(date, time_)}#{study}"


def date_sk_range(low: str | None, high: str | None) -> tuple[str, str]:
    """The by_date sort keys between which the studies of a StudyDate range lie (DA bounds,
    either open): '0' sorts before every date, '~' after every digit and '#'."""
    return low or "0", f"{high}~" if high else "~"


def escape_value(value: str) -> str:
    """Values in sort keys: '%' and '#' escaped, so '#' separates and prefixes still match."""
    return value.replace("%", "%25").replace("#", "%23")


def unescape_value(value: str) -> str:
    return value.replace("%23", "#").replace("%25", "%")


def value_pk(tenant: str, keyword: str) -> str:
    """The value-index partition of one study attribute of a tenant."""
    return f"{tenant}#STUDY#{keyword}"


def value_index_sk(value: str, study: str) -> str:
    return f"{escape_value(value)}#{study}"


def value_sk(keyword: str, value: str) -> str:
    """The sort key of a value entry item in its study's partition."""
    return f"{VALUE_SK_PREFIX}{keyword}#{escape_value(value)}"


def value_index_prefix(value: str, exact: bool) -> str:
    """What the by_value sort keys of ``value`` begin with: ``value#`` for an exact match (a
    longer value with this prefix does not match), the escaped value alone for a prefix."""
    return escape_value(value) + ("#" if exact else "")


def value_of_index_sk(sk: str) -> str:
    """The value a by_value sort key (``{escaped value}#{study}``) holds."""
    escaped, _, _study = sk.rpartition("#")
    return unescape_value(escaped)


# --- a tenant's series and instances, newest first (GSIs by_list and by_attr) ------------------

SERIES_LEVEL = "SERIES"
INSTANCE_LEVEL = "INSTANCE"
#: Write shards of each listing partition: a tenant's instances spread over this many partition
#: keys (a DynamoDB partition key takes ~1,000 writes/s), merged on read newest first.
LIST_SHARDS = 4
#: The version of the listing keys an item carries (``kv``); an item without the current one
#: is re-keyed when it is next reconciled (``cli reindex`` backfills them all).
LIST_KEYS_VERSION = 1


def list_shard(uid: str) -> int:
    """Which write shard a series (by its UID) or an instance (by its SOP Instance UID) is in."""
    return zlib.crc32(uid.encode("utf-8")) % LIST_SHARDS


def list_pk(tenant: str, level: str, shard: int) -> str:
    """A listing partition: every series (or instance) of a tenant in one write shard."""
    return f"{tenant}#{level}#{shard}"


def attr_pk(tenant: str, level: str, keyword: str, value: str, shard: int) -> str:
    """An attribute partition: a tenant's series of one Modality, or instances of one
    SOPClassUID, in one write shard."""
    return f"{tenant}#{level}#{keyword}#{escape_value(value)}#{shard}"


def _tie(digits: int, *uids: str) -> str:
    return hashlib.sha256("#".join(uids).encode("utf-8")).hexdigest()[:digits]


def series_list_sk(date: str, study: str, series: str) -> str:
    """The listings' sort key of a series: its date (14 digits) first, so it is read newest
    first backwards, then 12 hex digits of a hash of its UIDs: keys short (an index entry is
    read for every result, and for every result an offset skips) and, in practice, unique (two
    series of the same second collide with odds of 2^-48)."""
    return f"{date}#{_tie(12, study, series)}"


def instance_list_sk(date: str, study: str, series: str, sop: str) -> str:
    """An instance's: its series' date and tie (so a series' instances sort together), then 16
    hex digits of its SOP Instance UID (a collision in a 100,000-instance series: ~3 x 10^-10)."""
    return f"{series_list_sk(date, study, series)}#{_tie(16, sop)}"


def list_sk_range(low: str | None, high: str | None) -> tuple[str, str]:
    """The listing sort keys between which the series of a date range (DA, either end open)
    lie: as ``date_sk_range``."""
    return date_sk_range(low, high)


# --- presigned uploads ------------------------------------------------------------------------

UPLOADS = "uploads/"


def upload_file_key(tenant: str, upload_id: str, index: int, safe_name: str) -> str:
    """Where a presigned upload lands: under import/, so the S3 event imports it."""
    return f"{IMPORT_ROOT}{tenant}/{UPLOADS}{upload_id}/{index:05d}-{safe_name}"


def upload_manifest_key(tenant: str, upload_id: str) -> str:
    return f"{DERIVED_ROOT}{tenant}/{UPLOADS}{upload_id}/manifest.json"


def upload_results_prefix(tenant: str, upload_id: str) -> str:
    return f"{DERIVED_ROOT}{tenant}/{UPLOADS}{upload_id}/results/"


def parse_upload_name(name: str) -> tuple[str, int] | None:
    """'uploads/{id}/{index}-{name}' (an import key after the tenant) -> (id, index)."""
    if not name.startswith(UPLOADS):
        return None
    upload_id, _, rest = name[len(UPLOADS) :].partition("/")
    index, dash, _ = rest.partition("-")
    if not upload_id or not dash or not (index.isascii() and index.isdecimal()):
        return None
    return upload_id, int(index)


def upload_result_key(tenant: str, upload_id: str, index: int, outcome: str) -> str:
    """A result marker: the outcome is in the key, so one listing reports an upload."""
    return f"{upload_results_prefix(tenant, upload_id)}{index:05d}/{outcome}"


# --- bundles: composed answers over the payload limit, kept with the data they hold ------------


def bundles_prefix(tenant: str, study: str, series: str | None = None) -> str:
    """Where composed answers (multipart bodies, zips, large documents) are kept: under the
    study or series they hold, so deleting it deletes them."""
    if series:
        return f"{DERIVED_ROOT}{tenant}/{study}/{series}/bundles/"
    return f"{DERIVED_ROOT}{tenant}/{study}/bundles/"


def bundles_scope(tenant: str, object_keys: Iterable[str]) -> str:
    """The narrowest bundles prefix that holds every one of these canonical object keys."""
    studies, series = set(), set()
    for key in object_keys:
        parts = key.split("/")
        studies.add(parts[2])
        series.add(parts[3])
    if len(studies) != 1:
        raise ValueError("a bundle holds one study")
    (study,) = studies
    return bundles_prefix(tenant, study, next(iter(series)) if len(series) == 1 else None)
