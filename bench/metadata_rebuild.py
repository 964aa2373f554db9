"""How long a series' metadata document takes to rebuild, by series size and read concurrency.

    python -m bench.metadata_rebuild [INSTANCES ...]     (make bench-rebuild)

The first read of a series' metadata after a change rebuilds its document from one fragment
per instance: a listing, then one S3 GET per fragment (``services/metadata._rebuild``). In AWS
a GET is I/O, ~20 ms to first byte, so the rebuild's time is set by how many GETs run at once;
moto in the same process answers in about a millisecond of CPU. So every GetObject here is held
for ``LATENCY_MS`` (a botocore hook, in the client's own thread: what waiting on S3 does) and
the rebuild is timed at several concurrencies. The fragments are real ones (the indexer's, for
a 512x512 CT); the documents are checked equal whatever the concurrency.

It answers one question from docs/scale.md: at which series size a rebuild from every fragment
nears API Gateway's 29 s, and what the incremental rebuild (the previous document, its
manifest of fragment ETags, and only the fragments that changed) costs instead.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from local.testenv import use_test_environment

use_test_environment()

from moto import mock_aws

from chalicelib.dicomweb.resources import SeriesRef
from chalicelib.services import metadata
from chalicelib.storage import keys
from local.harness import prepared_app

LATENCY_MS = 20.0
TENANT = "bench"
CONCURRENCIES = (8, 32)


def fragment(sop: str, n: int) -> bytes:
    """A DICOM JSON instance fragment of the size the indexer writes for a CT slice (~2 KB)."""
    attributes = ",".join(
        f'"0009{i:04X}":{{"vr":"LO","Value":["value {n} {i} padded to the size of a header"]}}'
        for i in range(32)
    )
    head = f'"00080018":{{"vr":"UI","Value":["{sop}"]}},"00200013":{{"vr":"IS","Value":[{n}]}}'
    return f"{{{head},{attributes}}}".encode()


def slow_gets(client: Any, latency_s: float) -> None:
    def hold(**_: Any) -> None:
        time.sleep(latency_s)

    client.meta.events.register("before-parameter-build.s3.GetObject", hold)


def measure(sizes: list[int]) -> list[tuple[int, str, float]]:
    rows = []
    with mock_aws(), prepared_app({TENANT: "bench-key-" + "r" * 32}) as app:
        store = app.deps.store
        slow_gets(app.deps.clients.s3, LATENCY_MS / 1000)
        for size in sizes:
            ref = SeriesRef(TENANT, f"1.2.3.{size}", f"1.2.3.{size}.1")
            prefix = keys.instance_fragments_prefix(ref)
            for n in range(size + 1):
                sop = f"1.2.3.{size}.1.{n}"
                if n < size:  # the last one arrives after the first rebuilds
                    store.put(f"{prefix}{sop}.json", fragment(sop, n), "application/json")
            documents = set()
            for workers in CONCURRENCIES:
                for old in store.list(keys.series_metadata_prefix(ref))[0]:
                    store.delete(old.key)  # from scratch: no previous document
                metadata.FRAGMENT_READERS = workers
                started = time.perf_counter()
                body = metadata._rebuild(store, ref, version=1)
                rows.append(
                    (
                        size,
                        f"from every fragment, {workers} at a time",
                        time.perf_counter() - started,
                    )
                )
                documents.add(body)
            assert len(documents) == 1, "the document depends on the concurrency"
            # one more instance: the previous document, its manifest and one fragment
            store.put(f"{prefix}{sop}.json", fragment(sop, size), "application/json")
            started = time.perf_counter()
            body = metadata._rebuild(store, ref, version=2)
            rows.append(
                (size + 1, "one more instance (incremental)", time.perf_counter() - started)
            )
            assert body.count(b'"00200013"') == size + 1
    return rows


def main(argv: list[str] | None = None) -> int:
    sizes = [int(a) for a in (argv if argv is not None else sys.argv[1:])] or [500, 2000]
    default = metadata.FRAGMENT_READERS
    try:
        rows = measure(sizes)
    finally:
        metadata.FRAGMENT_READERS = default
    print(f"Series metadata rebuild, S3 GET held {LATENCY_MS:.0f} ms (in-process moto)")
    print("| instances | rebuild | seconds | per instance ms |")
    print("|---:|---|---:|---:|")
    for size, how, seconds in rows:
        print(f"| {size} | {how} | {seconds:.2f} | {seconds / size * 1000:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
