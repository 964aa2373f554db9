"""The CLI: ``python -m dicomweb_cli upload|search|retrieve|tenants|keys|reindex ...``.

For people (over HTTP with an API key): ``upload PATH...`` (folders, STOW batches, presigned
uploads for very large files, parallel, retries, a progress bar, a journal: resumable),
``search`` (QIDO as a table or JSON, paged), ``retrieve`` (a study or series into a folder).
Endpoint and key: ``--url``/``--key``, else ``DICOMWEB_URL`` / ``DICOMWEB_API_KEY``, else the
local stack. The client's libraries (requests, rich) are imported only by those commands and
are development dependencies.

For operators (the tenants table and the catalog, with AWS credentials): ``tenants``, ``keys``
and ``reindex``, in ``dicomweb_cli/admin.py``.

Every expected failure is one line on stderr, ``<command>: <what happened>``, and an exit
status (``session.EXIT_*``; docs/cli.md, "Exit status"), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
import warnings
from pathlib import Path

from dicomweb_cli import admin
from dicomweb_cli.session import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    CliError,
)

UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "ki": 1024, "mi": 1024**2, "gi": 1024**3}


def size(text: str) -> int:
    """``1GiB``, ``500MB``, ``1048576``: a number of bytes."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]i?)?b?\s*", text.lower())
    if not match:
        raise argparse.ArgumentTypeError("a size: 1048576, 500MB or 1GiB")
    return int(match.group(1)) * UNITS[match.group(2) or ""]


def _client_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the DICOMweb root (default: DICOMWEB_URL, local stack)")
    parser.add_argument("--key", help="the API key (default: DICOMWEB_API_KEY, demo key)")


def _quiet_libraries() -> None:
    """Library warnings (pydicom reading odd headers, urllib3) stay out of the output: the
    service's answers are what the commands report."""
    warnings.filterwarnings("ignore")
    logging.getLogger("pydicom").setLevel(logging.ERROR)


def _upload(args: argparse.Namespace) -> int:
    from dicomweb_cli.journal import FAILED, Journal
    from dicomweb_cli.progress import bar
    from dicomweb_cli.scan import check_paths
    from dicomweb_cli.session import Client, endpoint
    from dicomweb_cli.upload import upload

    check_paths(args.paths)
    ep = endpoint(args.url, args.key)
    client = Client(ep, pool=args.workers)
    client.reach()  # a wrong URL is said before the folders are read
    journal = Journal(ep, Path(args.journal_dir) if args.journal_dir else None)
    with bar("upload") as progress:
        summary = upload(
            args.paths,
            client,
            journal,
            workers=args.workers,
            large=args.large,
            on_found=progress.total,
            on_progress=progress.advance,
        )
    if summary.fatal is not None and not summary.answered:
        raise summary.fatal  # nothing was sent: the reason alone
    for line in summary.lines(args.verbose):
        print(line)
    for note in summary.notes:
        print(f"note: {note}", file=sys.stderr)
    print(summary.line())
    print(f"journal: {journal.path}")
    if summary.fatal is not None:
        raise summary.fatal
    return EXIT_FAILED if summary.count(FAILED) else EXIT_OK


def _search(args: argparse.Namespace) -> int:
    from dicomweb_cli.search import search, table
    from dicomweb_cli.session import Client, endpoint

    filters = []
    for f in args.filter:
        name, sep, value = f.partition("=")
        if not sep or not name:
            raise CliError(f"a filter is NAME=VALUE: {f}", EXIT_USAGE)
        if name.lower() in ("limit", "offset"):
            raise CliError(f"use --{name.lower()}, not a filter", EXIT_USAGE)
        filters.append((name, value))
    if args.series and not args.study:
        raise CliError("--series needs --study", EXIT_USAGE)
    client = Client(endpoint(args.url, args.key))
    found = search(
        client,
        args.level,
        filters,
        args.study,
        args.series,
        limit=args.limit,
        offset=args.offset,
        everything=args.all,
    )
    for text in found.warnings:
        print(f"warning: {text}", file=sys.stderr)
    if args.json:
        print(json.dumps(found.items, indent=2))
        print(found.footer(args.level), file=sys.stderr)
    else:
        if found.items:
            print(table(args.level, found.items))
        print(found.footer(args.level))
    return EXIT_OK


def _retrieve(args: argparse.Namespace) -> int:
    from dicomweb_cli.progress import bar
    from dicomweb_cli.retrieve import instances, retrieve
    from dicomweb_cli.session import Client, endpoint

    client = Client(endpoint(args.url, args.key), pool=args.workers)
    out = Path(args.out)
    refs, found_warnings = instances(client, args.study, args.series)
    for text in found_warnings:
        print(f"warning: {text}", file=sys.stderr)
    with bar("retrieve") as progress:
        progress.total(len(refs))
        got = retrieve(client, refs, out, workers=args.workers, on_progress=progress.advance)
    for sop, reason in got.failures:
        print(f"failed   {sop}: {reason}")
    noun = "instance" if got.written == 1 else "instances"
    print(
        f"retrieved {got.written} {noun} ({got.written_bytes / 1e6:.1f} MB) into "
        f"{out / args.study}; {got.kept} already there, {len(got.failures)} failed"
    )
    return EXIT_FAILED if got.failures else EXIT_OK


def parser() -> argparse.ArgumentParser:
    from dicomweb_cli.retrieve import DEFAULT_OUT
    from dicomweb_cli.upload import LARGE_FILE

    top = argparse.ArgumentParser(prog="python -m dicomweb_cli")
    top.add_argument("--tenants-table", help="the tenants table (AWS; default TENANTS_TABLE)")
    top.add_argument("--aws", action="store_true", help="ignore a running local stack")
    top.add_argument("--stack", help="AWS: the deployed stack, whose TenantsTable output is used")
    top.add_argument("--region", help="AWS: the stack's region (default: AWS_REGION)")
    sub = top.add_subparsers(dest="group", required=True)
    admin.add_commands(sub)
    up = sub.add_parser("upload", help="store files and folders (recursively)")
    up.add_argument("paths", nargs="+")
    up.add_argument("--workers", type=int, default=4, help="requests at a time (default 4)")
    up.add_argument("--journal-dir", help="where outcomes are recorded (resuming)")
    up.add_argument(
        "--large",
        type=size,
        default=LARGE_FILE,
        help="files of at least this size go through presigned uploads (default 1GiB)",
    )
    up.add_argument("-v", "--verbose", action="store_true", help="a line for every file")
    _client_args(up)
    find = sub.add_parser("search", help="QIDO-RS: studies, series or instances")
    find.add_argument(
        "level", nargs="?", default="studies", choices=["studies", "series", "instances"]
    )
    find.add_argument("-f", "--filter", action="append", default=[], help="NAME=VALUE, repeatable")
    find.add_argument("--study")
    find.add_argument("--series")
    find.add_argument("--limit", type=int, help="at most this many (default: the service's 100)")
    find.add_argument("--offset", type=int, default=0, help="skip this many")
    find.add_argument("--all", action="store_true", help="every page")
    find.add_argument("--json", action="store_true", help="the DICOM JSON as returned")
    _client_args(find)
    get = sub.add_parser("retrieve", help="a study or series into a folder")
    get.add_argument("study")
    get.add_argument("--series")
    get.add_argument("--out", default=DEFAULT_OUT, help=f"the folder (default ./{DEFAULT_OUT})")
    get.add_argument("--workers", type=int, default=4)
    _client_args(get)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    client = {"upload": _upload, "search": _search, "retrieve": _retrieve}
    try:
        if args.group in client:
            _quiet_libraries()
            return client[args.group](args)
        if args.group == "reindex":
            return admin.reindex(args)
        return admin.tenants_and_keys(args, parser())
    except CliError as exc:
        print(f"{args.group}: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print(f"{args.group}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the output piped into head: done
        return EXIT_OK
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")):  # the operators' commands
            print(f"{args.group}: AWS: {exc}", file=sys.stderr)
            return EXIT_UNREACHABLE
        raise
