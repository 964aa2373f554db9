"""``search``: QIDO-RS as a table (rich) or as the service's DICOM JSON."""

from __future__ import annotations

from typing import Any

import requests

from dicomweb_cli.session import Endpoint, with_retries

#: Columns per level: (header, tag)
COLUMNS = {
    "studies": [
        ("Patient", "00100010"),
        ("Patient ID", "00100020"),
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


def path(level: str, study: str | None, series: str | None) -> str:
    if level == "studies":
        return "/studies"
    if level == "series":
        return f"/studies/{study}/series" if study else "/series"
    if study and series:
        return f"/studies/{study}/series/{series}/instances"
    return f"/studies/{study}/instances" if study else "/instances"


def search(
    http: requests.Session,
    ep: Endpoint,
    level: str,
    filters: list[tuple[str, str]],
    study: str | None = None,
    series: str | None = None,
) -> list[dict[str, Any]]:
    r = with_retries(
        lambda: http.get(
            ep.url + path(level, study, series),
            params=filters,
            headers={"Accept": "application/dicom+json"},
        )
    )
    if r.status_code == 204:
        return []
    if r.status_code != 200:
        try:
            message = r.json()["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = r.text[:200]
        raise SystemExit(f"search failed: HTTP {r.status_code}: {message}")
    found: list[dict[str, Any]] = r.json()
    return found


def value(item: dict[str, Any], tag: str) -> str:
    values = (item.get(tag) or {}).get("Value") or []
    out = []
    for v in values:
        out.append(v.get("Alphabetic", "") if isinstance(v, dict) else str(v))
    return "\\".join(out)


def table(level: str, found: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    grid = Table(title=f"{len(found)} {level}")
    for header, _ in COLUMNS[level]:
        grid.add_column(header, overflow="fold")
    for item in found:
        grid.add_row(*(value(item, tag) for _, tag in COLUMNS[level]))
    return grid
