"""Create the stack's resources on the local moto server, from the shared definitions in
``chalicelib/storage/schema.py`` (the same ones infra/ deploys)."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.config import Settings
from chalicelib.storage import schema


def queue_url(sqs: Any, name: str) -> str:
    return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])


def create_resources(
    clients: Any, settings: Settings, visibility_timeout: int | None = None
) -> dict[str, str]:
    """Bucket (versioned, notifications on the fixed roots), tables, queue + DLQ.

    ``visibility_timeout`` overrides the deployed value so a failed message is retried quickly
    on a laptop.
    """
    s3, db, sqs = clients.s3, clients.dynamodb, clients.sqs
    existing_tables = set(db.list_tables()["TableNames"])
    for definition in (
        schema.catalog_table(settings.catalog_table),
        schema.tenants_table(settings.tenants_table),
    ):
        if definition["TableName"] not in existing_tables:
            db.create_table(**definition)
            if definition["TableName"] == settings.tenants_table:
                db.update_time_to_live(
                    TableName=settings.tenants_table,
                    TimeToLiveSpecification={
                        "Enabled": True,
                        "AttributeName": schema.TENANTS_TTL_ATTRIBUTE,
                    },
                )
    dlq_url = sqs.create_queue(QueueName=settings.index_dlq)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    vt = schema.QUEUE_VISIBILITY_TIMEOUT_S if visibility_timeout is None else visibility_timeout
    q_url = sqs.create_queue(
        QueueName=settings.index_queue,
        Attributes={
            "VisibilityTimeout": str(vt),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": schema.MAX_RECEIVE_COUNT}
            ),
        },
    )["QueueUrl"]
    q_arn = sqs.get_queue_attributes(QueueUrl=q_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if settings.bucket not in buckets:
        s3.create_bucket(Bucket=settings.bucket)
    s3.put_bucket_versioning(Bucket=settings.bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_cors(
        Bucket=settings.bucket, CORSConfiguration={"CORSRules": schema.BUCKET_CORS_RULES}
    )
    s3.put_bucket_notification_configuration(
        Bucket=settings.bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"index-{root.strip('/')}",
                    "QueueArn": q_arn,
                    "Events": list(schema.NOTIFIED_EVENTS),
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": root}]}},
                }
                for root in schema.NOTIFIED_ROOTS
            ]
        },
    )
    return {"queue_url": q_url, "dlq_url": dlq_url}
