"""``search``: QIDO-RS, page by page, as an aligned table (UIDs whole) or the service's JSON.

Paging: without ``--limit`` the service's default page (100) comes back with a ``Warning``
counting the results left, which is said as "54 more: --offset 100, or --all". With
``--limit N`` the CLI asks for N + 1 to learn whether more follow. ``--all`` reads pages of
``PAGE`` until the last. Every other ``Warning`` of the service (an ignored parameter, a
search stopped early) is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dicomweb_cli.session import EXIT_USAGE, Client, CliError, error_message, server_warnings

PAGE = 1000
MORE = re.compile(r"There are (more than )?(\d+) additional results")

#: Columns per level: (header, tag); the level's UID last, whole.
COLUMNS = {
    "studies": [
        ("Patient", "00100010"),
        ("PatientID", "00100020"),
        ("Date", "00080020"),
        ("Modalities", "00080061"),
        ("Description", "00081030"),
        ("Series", "00201206"),
        ("Instances", "00201208"),
        ("StudyInstanceUID", "0020000D"),
    ],
    "series": [
        ("Modality", "00080060"),
        ("Number", "00200011"),
        ("Description", "0008103E"),
        ("Instances", "00201209"),
        ("SeriesInstanceUID", "0020000E"),
    ],
    "instances": [
        ("Number", "00200013"),
        ("Rows", "00280010"),
        ("Columns", "00280011"),
        ("Frames", "00280008"),
        ("SOPInstanceUID", "00080018"),
    ],
}
SINGULAR = {"studies": "study", "series": "series", "instances": "instance"}


@dataclass
class Found:
    """What a search found: the items, from which offset, how many more (``more``: counted;
    ``more_unknown``: some, uncounted) and the service's other warnings."""

    items: list[dict[str, Any]] = field(default_factory=list)
    offset: int = 0
    more: int = 0
    more_unknown: bool = False
    warnings: list[str] = field(default_factory=list)

    def footer(self, level: str) -> str:
        n = len(self.items)
        text = f"{n} {SINGULAR[level] if n == 1 else level}"
        if self.offset:
            text += f" from offset {self.offset}"
        if self.more or self.more_unknown:
            count = f"{self.more} more" if self.more else "more"
            text += f"; {count}: --offset {self.offset + n}, or --all"
        return text


def path(level: str, study: str | None, series: str | None) -> str:
    if level == "studies":
        return "/studies"
    if level == "series":
        return f"/studies/{study}/series" if study else "/series"
    if study and series:
        return f"/studies/{study}/series/{series}/instances"
    return f"/studies/{study}/instances" if study else "/instances"


def page(
    client: Client, url: str, params: list[tuple[str, str]]
) -> tuple[list[dict[str, Any]], int, list[str]]:
    """One QIDO answer: its items, the results it says are left, its other warnings."""
    r = client.send("GET", url, params=params, headers={"Accept": "application/dicom+json"})
    if r.status_code == 400:
        raise CliError(f"the service refused the query ({error_message(r)})", EXIT_USAGE)
    if r.status_code not in (200, 204):
        raise client.not_dicomweb(r)
    items: list[dict[str, Any]] = []
    if r.status_code == 200 and r.content.strip():
        try:
            items = r.json()
        except ValueError:
            raise client.not_dicomweb(r) from None
        if not isinstance(items, list):
            raise client.not_dicomweb(r)
    more, others = 0, []
    for text in server_warnings(r):
        counted = MORE.search(text)
        if counted:
            more = int(counted.group(2)) + (1 if counted.group(1) else 0)
        else:
            others.append(text)
    return items, more, others


def search(
    client: Client,
    level: str,
    filters: list[tuple[str, str]],
    study: str | None = None,
    series: str | None = None,
    limit: int | None = None,
    offset: int = 0,
    everything: bool = False,
) -> Found:
    url = client.url(path(level, study, series))
    found = Found(offset=offset)

    def warn(texts: list[str]) -> None:
        found.warnings += [t for t in texts if t not in found.warnings]

    if everything:
        while True:
            asked = [*filters, ("limit", str(PAGE)), ("offset", str(offset))]
            items, more, others = page(client, url, asked)
            found.items += items
            warn(others)
            if not items or (len(items) < PAGE and not more):
                return found
            offset += len(items)
    params = [*filters, ("offset", str(offset))] if offset else list(filters)
    if limit is not None:
        params.append(("limit", str(limit + 1)))  # one more: are there others?
    items, more, others = page(client, url, params)
    warn(others)
    if limit is not None and len(items) > limit:
        items = items[:limit]
        if more:
            more += 1  # the one asked for beyond the limit is one of them
        else:
            found.more_unknown = True
    found.items, found.more = items, more
    return found


def value(item: dict[str, Any], tag: str) -> str:
    values = (item.get(tag) or {}).get("Value") or []
    out = []
    for v in values:
        out.append(v.get("Alphabetic", "") if isinstance(v, dict) else str(v))
    return "\\".join(out)


def table(level: str, items: list[dict[str, Any]]) -> str:
    """An aligned table, one line per item, nothing cut or wrapped (the UID is whole and last:
    a terminal narrower than a line wraps it, a copy takes it whole)."""
    headers = [h for h, _ in COLUMNS[level]]
    rows = [[value(i, tag).replace("\n", " ") for _, tag in COLUMNS[level]] for i in items]
    widths = [max(len(c) for c in column) for column in zip(headers, *rows, strict=False)]
    lines = []
    for row in [headers, *rows]:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=False)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)
