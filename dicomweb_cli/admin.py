"""The operators' commands, with AWS credentials: ``tenants``, ``keys`` and ``reindex``.

``tenants create|list`` and ``keys create|list|revoke`` edit the tenants table through the
service's own ``chalicelib.storage.tenants`` (API keys are stored only as their hash);
``reindex [--tenant T]`` rebuilds the catalog from the objects in S3
(``chalicelib/services/reindex.py``) with the service's own wiring.

While ``make serve`` runs, the CLI started from the repo reaches that local stack without any
flag (the stack writes ``.state/stack.json``); against AWS it uses the usual credential chain
and ``--stack NAME`` (the deployed stack's outputs), ``--tenants-table`` or ``TENANTS_TABLE``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

LOCAL_STATE = Path(__file__).resolve().parent.parent / ".state" / "stack.json"


def duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text)
    if not match:
        raise argparse.ArgumentTypeError("use a number and d, h or m: 30d, 12h, 90m")
    value, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=value), "h": timedelta(hours=value), "m": timedelta(minutes=value)}[
        unit
    ]


def add_commands(sub: Any) -> None:
    """``tenants``, ``keys`` and ``reindex`` on the CLI's subparsers."""
    tenants = sub.add_parser("tenants").add_subparsers(dest="command", required=True)
    create_tenant = tenants.add_parser("create")
    create_tenant.add_argument("tenant")
    create_tenant.add_argument("--name")
    tenants.add_parser("list")
    keys = sub.add_parser("keys").add_subparsers(dest="command", required=True)
    create_key = keys.add_parser("create")
    create_key.add_argument("tenant")
    create_key.add_argument("--scopes", default="read")
    create_key.add_argument("--expires", type=duration)
    create_key.add_argument("--name", default="")
    list_keys = keys.add_parser("list")
    list_keys.add_argument("tenant")
    revoke = keys.add_parser("revoke")
    revoke.add_argument("key_id")
    rebuild = sub.add_parser("reindex", help="rebuild the catalog from the objects in S3")
    rebuild.add_argument("--tenant", help="one tenant (default: every tenant)")


def _store(args: argparse.Namespace) -> tuple[Any, Path | None]:
    import boto3

    from chalicelib.storage.tenants import DynamoTenantStore

    state_file = Path(os.environ.get("DICOMWEB_STACK_FILE", LOCAL_STATE))
    table = args.tenants_table or os.environ.get("TENANTS_TABLE", "dicomweb-tenants")
    kwargs: dict[str, Any] = {}
    local = None
    if state_file.exists() and not os.environ.get("AWS_ENDPOINT_URL") and not args.aws:
        stack = json.loads(state_file.read_text())
        kwargs = {
            "endpoint_url": stack["endpoint"],
            "region_name": stack["region"],
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        table = stack["tenants_table"]
        local = Path(stack["state_dir"])
    elif args.stack:  # AWS: the deployed stack names its tenants table in an output
        cloudformation = boto3.client("cloudformation", region_name=args.region)
        (stack,) = cloudformation.describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        table = outputs["TenantsTable"]
    if args.region and local is None:
        kwargs["region_name"] = args.region
    client = boto3.client("dynamodb", **kwargs)
    return DynamoTenantStore(client, table), local


def _deps(args: argparse.Namespace) -> Any:
    """The service's own wiring, pointed at the local stack or the deployed one."""
    from chalicelib.config import RESOURCE_ENV, Settings
    from chalicelib.routes.deps import Deps

    state_file = Path(os.environ.get("DICOMWEB_STACK_FILE", LOCAL_STATE))
    env: dict[str, str] = {}
    if state_file.exists() and not os.environ.get("AWS_ENDPOINT_URL") and not args.aws:
        stack = json.loads(state_file.read_text())
        env = {
            "AWS_ENDPOINT_URL": stack["endpoint"],
            "AWS_REGION": stack["region"],
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            RESOURCE_ENV["bucket"]: stack["bucket"],
            RESOURCE_ENV["catalog_table"]: stack["catalog_table"],
            RESOURCE_ENV["tenants_table"]: stack["tenants_table"],
        }
    elif args.stack:
        import boto3

        cloudformation = boto3.client("cloudformation", region_name=args.region)
        (stack,) = cloudformation.describe_stacks(StackName=args.stack)["Stacks"]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        env = {
            RESOURCE_ENV["bucket"]: outputs["DicomBucket"],
            RESOURCE_ENV["catalog_table"]: outputs["CatalogTable"],
            RESOURCE_ENV["tenants_table"]: outputs["TenantsTable"],
        }
    if args.region and "AWS_REGION" not in env:
        env["AWS_REGION"] = args.region
    os.environ.update(env)  # boto3 reads the endpoint and credentials from the environment
    return Deps(Settings.from_env())


def reindex(args: argparse.Namespace) -> int:
    from chalicelib.services.reindex import reindex as rebuild

    deps = _deps(args)
    tenants = [args.tenant] if args.tenant else [t["tenant"] for t in deps.tenants.tenants()]
    for tenant in tenants:
        counts = rebuild(deps.store, deps.catalog_reads, deps.indexer, tenant)
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing"
        print(f"{tenant}: {summary}")
    return 0


def _persist(store: Any, local: Path | None) -> None:
    """Local stack: keep the tenants table in the state directory, restored at start."""
    if local is not None:
        path = local / "tenants.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(store.all_items()))
        tmp.replace(path)


def tenants_and_keys(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from chalicelib.storage.keys import is_valid_tenant
    from chalicelib.storage.tenants import ALL_SCOPES

    store, local = _store(args)
    if args.group == "tenants" and args.command == "create":
        if not is_valid_tenant(args.tenant):
            parser.error("a tenant id is lower-case letters, digits and dashes (63 at most)")
        store.create_tenant(args.tenant, args.name)
        _persist(store, local)
        print(f"tenant {args.tenant} created")
    elif args.group == "tenants":
        for t in store.tenants():
            print(f"{t['tenant']}\t{t['name']}")
    elif args.command == "create":
        scopes = frozenset(s.strip() for s in args.scopes.split(",") if s.strip())
        if not scopes or not scopes <= ALL_SCOPES:
            parser.error(f"scopes are among {', '.join(sorted(ALL_SCOPES))}")
        if not store.tenant_exists(args.tenant):
            parser.error(f"no tenant {args.tenant}: create it first")
        expires = datetime.now(UTC) + args.expires if args.expires else None
        key_id, key = store.create_key(args.tenant, scopes, args.name, expires_at=expires)
        _persist(store, local)
        print(
            f"key {key_id} for {args.tenant}, scopes {','.join(sorted(scopes))}"
            + (f", expires {expires.isoformat()}" if expires else "")
            + "; shown once:",
            file=sys.stderr,
        )
        print(key)
    elif args.command == "list":
        for k in store.keys(args.tenant):
            state = "revoked" if k["revoked"] else "active"
            print(
                f"{k['key_id']}\t{k['name']}\t{','.join(k['scopes'])}\t{state}\t"
                f"created {k['created_at']}\texpires {k['expires_at'] or 'never'}"
            )
    else:
        if not store.revoke(args.key_id):
            print(f"no key {args.key_id}", file=sys.stderr)
            return 1
        _persist(store, local)
        print(f"key {args.key_id} revoked (refused everywhere within the key cache's 60 s)")
    return 0
