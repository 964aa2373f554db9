"""``search``: QIDO-RS, page by page, as an aligned table (UIDs whole) or the service's JSON.

Paging: without ``--limit`` the service's default page (100) comes back with a ``Warning``
counting the results left (when its index can count them), said as "54 more: --offset 100, or
--all"; an answer that may have more carries ``Link: <next>; rel="next"``. With ``--limit N``
the CLI asks for N + 1 to learn whether more follow. ``--all`` follows the next links (pages of
``PAGE``) until there is none. Every other ``Warning`` of the service (an ignored parameter, a
search stopped early) is shown as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from dicomweb_cli.session import EXIT_USAGE, Client, CliError, error_message, server_warnings

PAGE = 1000
MORE = re.compile(r"There are (more than )?(\d+) additional results")
UNCOUNTED = re.compile(r"There are additional results")
#: The words of a page cut short (the service examined its bound), which ``--all`` follows.
FOLLOW = "follow the Link header's next URL"

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
    over: bool = False  # ``more`` is a lower bound
    more_unknown: bool = False
    warnings: list[str] = field(default_factory=list)

    def footer(self, level: str) -> str:
        n = len(self.items)
        text = f"{n} {SINGULAR[level] if n == 1 else level}"
        if self.offset:
            text += f" from offset {self.offset}"
        if self.more or self.more_unknown:
            count = "more"
            if self.more:
                count = f"over {self.more} more" if self.over else f"{self.more} more"
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


@dataclass
class Page:
    """One QIDO answer: its items, what it says is left (``more``: counted, ``over``: the count
    is a lower bound, ``maybe``: uncounted), its ``Link: rel="next"`` and its other warnings."""

    items: list[dict[str, Any]]
    more: int = 0
    over: bool = False
    maybe: bool = False
    next_url: str | None = None
    warnings: list[str] = field(default_factory=list)


def page(client: Client, url: str, params: list[tuple[str, str]] | None) -> Page:
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
    out = Page(items, next_url=r.links.get("next", {}).get("url"))
    for text in server_warnings(r):
        counted = MORE.search(text)
        if counted:
            out.more, out.over = int(counted.group(2)), bool(counted.group(1))
        elif UNCOUNTED.search(text):
            out.maybe = True
        else:
            out.warnings.append(text)
    return out


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
    """One page (the service's default, or ``limit``, from ``offset``), or with
    ``everything`` every page, following the service's next links (which read on from where a
    page ended) until there is none."""
    first = client.url(path(level, study, series))
    found = Found(offset=offset)

    def warn(texts: list[str]) -> None:
        found.warnings += [t for t in texts if t not in found.warnings]

    if everything:
        asked = [*filters, ("limit", str(PAGE))] + ([("offset", str(offset))] if offset else [])
        url: str | None = first
        params: list[tuple[str, str]] | None = asked
        while url is not None:
            got = page(client, url, params)
            found.items += got.items
            # a page cut short names the next link: followed here, so not a warning
            warn([w for w in got.warnings if not (got.next_url and FOLLOW in w)])
            url, params = got.next_url, None
        return found
    params = [*filters, ("offset", str(offset))] if offset else list(filters)
    if limit is not None:
        params.append(("limit", str(limit + 1)))  # one more: are there others?
    got = page(client, first, params)
    warn(got.warnings)
    items = got.items
    found.more, found.over = got.more, got.over
    found.more_unknown = got.maybe or (got.next_url is not None and not got.more)
    if limit is not None:
        if len(items) > limit:
            items = items[:limit]
            found.more_unknown = found.more_unknown or not found.more
        else:
            found.more_unknown = False  # the one asked for beyond the limit is not there
    found.items = items
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
