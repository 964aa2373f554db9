"""Eight STOW clients store 50 instances each into one study (two shared series) at once, then
eight indexer workers take distinct batches in parallel, as Lambda's SQS pollers do: the counts
are exact, each series' metadata document lists every instance, and every stored byte is the
one sent. (That the catalog equals a rebuild from S3 after concurrent and faulty indexing is
checked in test_faults.py and test_indexer.py on smaller studies: a rebuild of 400 instances
costs 34 s on in-process moto.)"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.conftest import TENANT
from tests.factories import dataset, multipart_body, to_bytes
from tests.service.helpers import object_hashes

CT = 'multipart/related; type="application/dicom"; boundary=test-boundary'
CLIENTS, PER_CLIENT = 8, 50


def parallel_index(stack: Any, workers: int) -> int:
    """``workers`` pollers at once until the queue stays empty; messages handled."""
    sqs = stack.deps.clients.sqs
    url = sqs.get_queue_url(QueueName=stack.deps.settings.index_queue)["QueueUrl"]
    # distinct batches per worker, as in AWS (the test harness uses 0 for quick retries)
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})
    handled = [0]
    lock = threading.Lock()

    def work() -> None:
        empty = 0
        while empty < 3:
            n = stack.poller.poll_once()
            empty = empty + 1 if n == 0 else 0
            with lock:
                handled[0] += n

    with ThreadPoolExecutor(workers) as pool:
        for future in [pool.submit(work) for _ in range(workers)]:
            future.result()
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "0"})
    return handled[0]


def test_parallel_stow_and_parallel_indexing_give_exact_counts(stack: Any) -> None:
    study = dataset().StudyInstanceUID
    series = [dataset(study=study).SeriesInstanceUID for _ in range(2)]
    batches = [
        [dataset(study=study, series=series[(c + i) % 2]) for i in range(PER_CLIENT)]
        for c in range(CLIENTS)
    ]
    expected = {
        f"dicom/{TENANT}/{study}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm": (
            hashlib.sha256(to_bytes(ds)).hexdigest()
        )
        for batch in batches
        for ds in batch
    }
    barrier = threading.Barrier(CLIENTS)

    def store(batch: list[Any]) -> int:
        body = multipart_body([to_bytes(ds) for ds in batch])
        barrier.wait()  # all eight requests in flight together
        return stack.post("/studies", data=body, headers={"Content-Type": CT}).status_code

    with ThreadPoolExecutor(CLIENTS) as pool:
        assert list(pool.map(store, batches)) == [200] * CLIENTS

    assert parallel_index(stack, workers=8) >= CLIENTS * PER_CLIENT
    total = CLIENTS * PER_CLIENT
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [total]
    assert found["00201206"]["Value"] == [2]
    listed = stack.get(f"/studies/{study}/series").json()
    assert sorted(s["00201209"]["Value"][0] for s in listed) == [total // 2, total // 2]
    for uid in series:
        doc = stack.get(f"/studies/{study}/series/{uid}/metadata").json()
        sops = {d["00080018"]["Value"][0] for d in doc}
        want = {ds.SOPInstanceUID for b in batches for ds in b if ds.SeriesInstanceUID == uid}
        assert sops == want
    assert object_hashes(stack, f"dicom/{TENANT}/") == expected
