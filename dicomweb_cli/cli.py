"""The CLI: ``python -m dicomweb_cli upload|search|retrieve|tenants|keys|reindex ...``.

For people (over HTTP with an API key): ``upload PATH...`` (folders, batches under the payload
limit, presigned uploads for large files, parallel, retries, a progress bar, resumable),
``search`` (QIDO as a table or JSON), ``retrieve`` (a study or series into a folder). Endpoint
and key: ``--url``/``--key``, else ``DICOMWEB_URL`` / ``DICOMWEB_API_KEY``, else the local
stack. The client's libraries (requests, rich) are imported only by those commands and are
development dependencies.

For operators (the tenants table and the catalog, with AWS credentials): ``tenants``, ``keys``
and ``reindex``, in ``dicomweb_cli/admin.py``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dicomweb_cli import admin


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the DICOMweb root (default: DICOMWEB_URL, local stack)")
    parser.add_argument("--key", help="the API key (default: DICOMWEB_API_KEY, demo key)")


def _upload(args: argparse.Namespace) -> int:
    from rich.console import Console

    from dicomweb_cli.progress import bar
    from dicomweb_cli.session import endpoint, session
    from dicomweb_cli.upload import Journal, upload

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
    from dicomweb_cli.search import search, table
    from dicomweb_cli.session import endpoint, session

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
    from dicomweb_cli.progress import bar
    from dicomweb_cli.retrieve import retrieve
    from dicomweb_cli.session import endpoint, session

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dicomweb_cli")
    parser.add_argument("--tenants-table", help="the tenants table (AWS; default TENANTS_TABLE)")
    parser.add_argument("--aws", action="store_true", help="ignore a running local stack")
    parser.add_argument(
        "--stack", help="AWS: the deployed stack, whose TenantsTable output is used"
    )
    parser.add_argument("--region", help="AWS: the stack's region (default: AWS_REGION)")
    sub = parser.add_subparsers(dest="group", required=True)
    admin.add_commands(sub)
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
        return admin.reindex(args)
    return admin.tenants_and_keys(args, parser)
