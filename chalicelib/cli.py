"""The CLI: ``python -m chalicelib.cli upload|search|retrieve|tenants|keys|reindex ...``.

For people (``chalicelib/client/``, over HTTP with an API key): ``upload PATH...`` (folders,
batches under the payload limit, presigned uploads for large files, parallel, retries, a
progress bar, resumable), ``search`` (QIDO as a table or JSON), ``retrieve`` (a study or series
into a folder). Endpoint and key: ``--url``/``--key``, else ``DICOMWEB_URL`` /
``DICOMWEB_API_KEY``, else the local stack.

For operators (the tenants table and the catalog, with AWS credentials):

``reindex [--tenant T]`` rebuilds the catalog from the objects in S3
(``chalicelib/services/reindex.py``).

While ``make serve`` runs, the CLI started from the repo reaches that local stack without any
flag (the stack writes ``.state/stack.json``); against AWS it uses the usual credential chain
and ``--stack NAME`` (the deployed stack's ``TenantsTable`` output), ``--tenants-table`` or
``TENANTS_TABLE``. The client's libraries (requests, rich) are imported
only by those commands and are development dependencies: nothing here enters the Lambda
package's dependencies.
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


def _duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text)
    if not match:
        raise argparse.ArgumentTypeError("use a number and d, h or m: 30d, 12h, 90m")
    value, unit = int(match.group(1)), match.group(2)
    return {"d": timedelta(days=value), "h": timedelta(hours=value), "m": timedelta(minutes=value)}[
        unit
    ]


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


def _reindex(args: argparse.Namespace) -> int:
    from chalicelib.services.reindex import reindex

    deps = _deps(args)
    tenants = [args.tenant] if args.tenant else [t["tenant"] for t in deps.tenants.tenants()]
    for tenant in tenants:
        counts = reindex(deps.store, deps.catalog, deps.indexer, tenant)
        summary = ", ".join(f"{n} {action}" for action, n in sorted(counts.items())) or "nothing"
        print(f"{tenant}: {summary}")
    return 0


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the DICOMweb root (default: DICOMWEB_URL, local stack)")
    parser.add_argument("--key", help="the API key (default: DICOMWEB_API_KEY, demo key)")


def _upload(args: argparse.Namespace) -> int:
    from rich.console import Console

    from chalicelib.client.progress import bar
    from chalicelib.client.session import endpoint, session
    from chalicelib.client.upload import Journal, upload

    ep = endpoint(args.url, args.key)
    http = session(ep, args.workers)
    journal = Journal(ep, Path(args.journal_dir) if args.journal_dir else None)
    with bar("upload") as progress:
        summary = upload(
            args.paths,
            http,
            ep,
            journal,
            workers=args.workers,
            on_found=lambda files, _bytes: progress.total(files),
            on_progress=progress.advance,
        )
    console = Console(stderr=True)
    for name, reason in summary.failures:
        console.print(f"[red]failed[/red] {name}: {reason}")
    print(summary.line())
    return 1 if summary.failures else 0


def _search(args: argparse.Namespace) -> int:
    from chalicelib.client.search import search, table
    from chalicelib.client.session import endpoint, session

    ep = endpoint(args.url, args.key)
    filters = []
    for f in args.filter:
        name, sep, value = f.partition("=")
        if not sep:
            raise SystemExit(f"a filter is NAME=VALUE: {f}")
        filters.append((name, value))
    if args.limit:
        filters.append(("limit", str(args.limit)))
    found = search(session(ep), ep, args.level, filters, args.study, args.series)
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        from rich.console import Console

        Console().print(table(args.level, found))
    return 0


def _retrieve(args: argparse.Namespace) -> int:
    from chalicelib.client.progress import bar
    from chalicelib.client.retrieve import retrieve
    from chalicelib.client.session import endpoint, session

    ep = endpoint(args.url, args.key)
    with bar("retrieve") as progress:
        got = retrieve(
            session(ep, args.workers),
            ep,
            args.study,
            args.series,
            Path(args.out),
            workers=args.workers,
            on_found=progress.total,
            on_progress=progress.advance,
        )
    for sop, reason in got.failures:
        print(f"failed {sop}: {reason}", file=sys.stderr)
    print(
        f"retrieved {got.written} instances ({got.written_bytes / 1e6:.1f} MB) into {args.out}; "
        f"{got.kept} already there, {len(got.failures)} failed"
    )
    return 1 if got.failures else 0


def _persist(store: Any, local: Path | None) -> None:
    """Local stack: keep the tenants table in the state directory, restored at start."""
    if local is not None:
        path = local / "tenants.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(store.all_items()))
        tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chalicelib.cli")
    parser.add_argument("--tenants-table", help="the tenants table (AWS; default TENANTS_TABLE)")
    parser.add_argument("--aws", action="store_true", help="ignore a running local stack")
    parser.add_argument(
        "--stack", help="AWS: the deployed stack, whose TenantsTable output is used"
    )
    parser.add_argument("--region", help="AWS: the stack's region (default: AWS_REGION)")
    sub = parser.add_subparsers(dest="group", required=True)
    tenants = sub.add_parser("tenants").add_subparsers(dest="command", required=True)
    create_tenant = tenants.add_parser("create")
    create_tenant.add_argument("tenant")
    create_tenant.add_argument("--name")
    tenants.add_parser("list")
    keys = sub.add_parser("keys").add_subparsers(dest="command", required=True)
    create_key = keys.add_parser("create")
    create_key.add_argument("tenant")
    create_key.add_argument("--scopes", default="read")
    create_key.add_argument("--expires", type=_duration)
    create_key.add_argument("--name", default="")
    list_keys = keys.add_parser("list")
    list_keys.add_argument("tenant")
    revoke = keys.add_parser("revoke")
    revoke.add_argument("key_id")
    rebuild = sub.add_parser("reindex", help="rebuild the catalog from the objects in S3")
    rebuild.add_argument("--tenant", help="one tenant (default: every tenant)")
    up = sub.add_parser("upload", help="store files and folders (recursively)")
    up.add_argument("paths", nargs="+")
    up.add_argument("--workers", type=int, default=4)
    up.add_argument("--journal-dir", help="where uploaded files are recorded (resuming)")
    _client_args(up)
    find = sub.add_parser("search", help="QIDO-RS: studies, series or instances")
    find.add_argument(
        "level", nargs="?", default="studies", choices=["studies", "series", "instances"]
    )
    find.add_argument("-f", "--filter", action="append", default=[], help="NAME=VALUE, repeatable")
    find.add_argument("--study")
    find.add_argument("--series")
    find.add_argument("--limit", type=int)
    find.add_argument("--json", action="store_true", help="the DICOM JSON as returned")
    _client_args(find)
    get = sub.add_parser("retrieve", help="a study or series into a folder")
    get.add_argument("study")
    get.add_argument("--series")
    get.add_argument("--out", default=".")
    get.add_argument("--workers", type=int, default=4)
    _client_args(get)
    args = parser.parse_args(argv)
    client = {"upload": _upload, "search": _search, "retrieve": _retrieve}
    if args.group in client:
        return client[args.group](args)
    if args.group == "reindex":
        return _reindex(args)

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


if __name__ == "__main__":
    sys.exit(main())
