"""``search`` and ``retrieve`` of the CLI against the service over HTTP (the in-process stack):
pages and how many more there are, the service's warnings, UIDs whole at 80 columns, a study
or series the service does not hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomweb_cli import search as search_module
from dicomweb_cli.retrieve import instances, retrieve
from dicomweb_cli.search import search, table
from dicomweb_cli.session import EXIT_NOT_FOUND, EXIT_USAGE, Client, CliError, Endpoint
from tests.cli.helpers import run
from tests.factories import dataset, multipart_body, to_bytes, uid

CT = 'multipart/related; type="application/dicom"; boundary=test-boundary'
COUNT = 154


@pytest.fixture
def stored(stack) -> tuple[str, str, dict[str, bytes]]:
    """154 instances of one study, two series, a PatientID of their own."""
    study, series = uid(), [uid(), uid()]
    pid = f"CLI-{study[-8:]}"
    files = {}
    for n in range(COUNT):
        ds = dataset(study=study, series=series[n % 2], PatientID=pid, InstanceNumber=n + 1)
        files[ds.SOPInstanceUID] = to_bytes(ds)
    r = stack.post(
        "/studies", data=multipart_body(list(files.values())), headers={"Content-Type": CT}
    )
    assert r.status_code == 200, r.text
    return study, pid, files


def test_search_pages_say_how_many_more_and_all_reads_them(stack, stored) -> None:
    _, pid, files = stored
    client = Client(Endpoint(stack.url, stack.key))
    listing = search(client, "instances", [])  # the service counts what is left on its keys
    assert (len(listing.items), listing.more, listing.more_unknown) == (100, COUNT - 100, False)
    assert listing.footer("instances") == "100 instances; 54 more: --offset 100, or --all"
    first = search(client, "instances", [("PatientID", pid)])  # here it says only "more"
    assert (len(first.items), first.more, first.more_unknown) == (100, 0, True)
    assert first.footer("instances") == "100 instances; more: --offset 100, or --all"
    rest = search(client, "instances", [("PatientID", pid)], offset=100)
    assert (len(rest.items), rest.more, rest.more_unknown) == (54, 0, False)
    assert rest.footer("instances") == "54 instances from offset 100"
    both = {i["00080018"]["Value"][0] for i in first.items + rest.items}
    assert both == set(files)
    five = search(client, "instances", [("PatientID", pid)], limit=5)
    assert len(five.items) == 5 and five.more_unknown
    assert five.footer("instances") == "5 instances; more: --offset 5, or --all"
    everything = search(client, "instances", [("PatientID", pid)], everything=True)
    assert {i["00080018"]["Value"][0] for i in everything.items} == set(files)
    assert everything.footer("instances") == f"{COUNT} instances"


def test_all_follows_the_services_next_links(stack, stored, monkeypatch) -> None:
    _, pid, files = stored
    client = Client(Endpoint(stack.url, stack.key))
    asked: list[str] = []
    send = client.send
    monkeypatch.setattr(
        client, "send", lambda m, url, **kw: asked.append(url) or send(m, url, **kw)
    )
    monkeypatch.setattr(search_module, "PAGE", 40)
    everything = search(client, "instances", [("PatientID", pid)], everything=True)
    uids = [i["00080018"]["Value"][0] for i in everything.items]
    assert sorted(uids) == sorted(files)  # each once: the pages are disjoint
    assert len(asked) == 4 and all("cursor=" in url for url in asked[1:])
    assert asked[0] == stack.url + "/instances"
    assert all(url.startswith(stack.url + "/instances?") for url in asked[1:])


def test_the_services_warnings_are_shown(stack, stored) -> None:
    _, pid, _ = stored
    client = Client(Endpoint(stack.url, stack.key))
    found = search(client, "studies", [("PatientID", pid), ("Colour", "blue")])
    assert len(found.items) == 1
    assert found.warnings == ["Colour is not a known attribute and was ignored"]
    with pytest.raises(CliError) as err:
        search(client, "studies", [("StudyDate", "2025-01-01")])
    assert err.value.code == EXIT_USAGE
    assert str(err.value) == (
        "the service refused the query (HTTP 400: StudyDate has a malformed DA value)"
    )


def test_the_table_keeps_uids_whole_at_80_columns(stack, stored, tmp_path: Path) -> None:
    study, pid, files = stored
    client = Client(Endpoint(stack.url, stack.key))
    page = search(client, "instances", [("PatientID", pid)]).items
    words = table("instances", page).split()
    assert all(i["00080018"]["Value"][0] in words for i in page)
    shown = run(
        "search", "instances", "--study", study, "--limit", "3",
        url=stack.url, key=stack.key, home=tmp_path,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    rows = shown.stdout.splitlines()
    assert rows[0].split() == ["Number", "Rows", "Columns", "Frames", "SOPInstanceUID"]
    assert all(row.split()[-1] in files for row in rows[1:4])
    assert rows[4] == "3 instances; more: --offset 3, or --all"
    as_json = run(
        "search", "series", "--study", study, "--json", url=stack.url, key=stack.key, home=tmp_path
    )
    assert '"0020000E"' in as_json.stdout and as_json.stderr == "2 series\n"


def test_retrieve_lists_series_then_instances_and_names_what_it_does_not_find(
    stack, stored, tmp_path: Path
) -> None:
    study, _, files = stored
    client = Client(Endpoint(stack.url, stack.key))
    refs, warnings = instances(client, study, None)
    assert {sop for _, _, sop in refs} == set(files) and warnings == []
    got = retrieve(client, refs, tmp_path)
    assert (got.written, got.kept, got.failures) == (COUNT, 0, [])
    assert {p.stem: p.read_bytes() for p in tmp_path.rglob("*.dcm")} == files
    with pytest.raises(CliError) as err:
        instances(client, uid(), None)
    assert err.value.code == EXIT_NOT_FOUND
    with pytest.raises(CliError) as err:
        instances(client, study, "1.2.3")
    assert str(err.value) == f"no series 1.2.3 in study {study} (none for this API key)"
