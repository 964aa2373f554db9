"""The one definition of the stack's data resources, used by the local stack, the tests and
(through ``infra/``) the deployed template: bucket roots, notification filters, table keys and
indexes, queue settings.

Access patterns of the catalog table ({t} = tenant; docs/architecture.md, "Catalog schema", has
the table with the requests each costs):

- study by UID: GetItem/BatchGetItem pk={t}#{study}, sk=STUDY
- an instance: GetItem pk={t}#{study}, sk=INSTANCE#{series}#{sop}
- a study's series / instances, a series' instances: Query pk={t}#{study}, sk begins_with
  SERIES# / INSTANCE# / INSTANCE#{series}#
- series or instance by UID alone: index by_uid, uid_pk={t}#{uid}
- a tenant's studies, newest first, and StudyDate ranges: index by_date, date_pk={t}#STUDY,
  date_sk={date}{time}#{study}
- PatientID, AccessionNumber, StudyDescription, PatientName (upper case), PatientNameWord,
  ModalitiesInStudy: index by_value, val_pk={t}#STUDY#{Keyword}, val_sk={value}#{study};
  exact (begins_with value#), prefix (begins_with prefix) and bounded substring walks; one
  small entry item per value in the study's partition (sk=V#{Keyword}#{value})
- a tenant's series, or instances, newest first, and SeriesDate ranges: index by_list,
  lst_pk={t}#SERIES#{k} / {t}#INSTANCE#{k}, lst_sk={SeriesDate or StudyDate}{StudyTime}#{hash
  of the series}[#{hash of the instance}], on the series and instance items themselves; k is one
  of ``keys.LIST_SHARDS`` write shards (by UID), read together and merged
- series of one Modality, instances of one SOPClassUID, newest first: index by_attr,
  atr_pk={t}#SERIES#Modality#{value}#{k} / {t}#INSTANCE#SOPClassUID#{value}#{k}, atr_sk=lst_sk

Every index projects keys only: a query reads index entries, then BatchGetItem reads the items
(items read = 2 x results), and no index is rewritten when a study's counts change.
"""

from __future__ import annotations

from typing import Any, Final

#: S3 key roots. Notifications fire on DICOM and IMPORT only; derived and rejected objects
#: live where no notification fires.
DICOM_ROOT: Final = "dicom/"
IMPORT_ROOT: Final = "import/"
DERIVED_ROOT: Final = "derived/"
REJECTED_ROOT: Final = "rejected/"
NOTIFIED_ROOTS: Final = (DICOM_ROOT, IMPORT_ROOT)
NOTIFIED_EVENTS: Final = ("s3:ObjectCreated:*", "s3:ObjectRemoved:*")

#: SQS: a message is retried this many times before it goes to the dead-letter queue.
MAX_RECEIVE_COUNT: Final = 5
#: Indexer Lambda timeout (s); the queue's visibility timeout must exceed it (x6 per AWS).
INDEXER_TIMEOUT_S: Final = 60
QUEUE_VISIBILITY_TIMEOUT_S: Final = 6 * INDEXER_TIMEOUT_S
INDEXER_BATCH_SIZE: Final = 10

#: Bucket CORS (S3 API shape): browsers follow a 303 to a presigned GET (large retrievals) and
#: PUT the parts of a presigned upload, reading each part's ETag.
BUCKET_CORS_RULES: Final = [
    {
        "AllowedMethods": ["GET", "HEAD", "PUT"],
        "AllowedOrigins": ["*"],
        "AllowedHeaders": ["*"],
        "ExposeHeaders": ["ETag", "Content-Length", "Content-Type", "Content-Range"],
        "MaxAgeSeconds": 3600,
    }
]

CATALOG_INDEXES: Final = {
    "by_uid": ("uid_pk", "uid_sk"),
    "by_date": ("date_pk", "date_sk"),
    "by_value": ("val_pk", "val_sk"),
    # issue 24: added to a deployed table one per stack update (CloudFormation creates at most
    # one GSI an update); items written before them are re-keyed by ``cli reindex``
    "by_list": ("lst_pk", "lst_sk"),
    "by_attr": ("atr_pk", "atr_sk"),
}


def _string_attrs(*names: str) -> list[dict[str, str]]:
    return [{"AttributeName": n, "AttributeType": "S"} for n in names]


def catalog_table(name: str) -> dict[str, Any]:
    """CreateTable arguments of the catalog table."""
    attrs = ["pk", "sk"] + [a for pair in CATALOG_INDEXES.values() for a in pair]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": _string_attrs(*attrs),
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": hash_key, "KeyType": "HASH"},
                    {"AttributeName": range_key, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
            for index, (hash_key, range_key) in CATALOG_INDEXES.items()
        ],
    }


#: Tenants-table items carrying this numeric attribute (epoch seconds) expire by DynamoDB TTL
#: (the rate limiter's one-second counters).
TENANTS_TTL_ATTRIBUTE: Final = "expires"


def tenants_table(name: str) -> dict[str, Any]:
    """CreateTable arguments of the tenants table (tenants and hashed API keys)."""
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        "AttributeDefinitions": _string_attrs("pk"),
    }
