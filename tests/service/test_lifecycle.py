"""DELETE removes patient data for real (every S3 version, derived objects, catalog items with
exact counts, at once: QIDO needs no indexer run), retries complete a partial delete, and the
change feed follows in order."""

from __future__ import annotations

from tests.factories import dataset, to_bytes, uid
from tests.service.helpers import deliver, inject_error, s3_record


def store(stack, ds):
    r = stack.post("/studies", data=to_bytes(ds), headers={"Content-Type": "application/dicom"})
    assert r.status_code == 200


def versions(stack, prefix: str) -> list:
    s3 = stack.deps.clients.s3
    got = s3.list_object_versions(Bucket=stack.deps.settings.bucket, Prefix=prefix)
    return got.get("Versions", []) + got.get("DeleteMarkers", [])


def archive(stack):
    study, s1, s2 = uid(), uid(), uid()
    a = [dataset(study=study, series=s1, modality="CT") for _ in range(2)]
    b = [dataset(study=study, series=s2, modality="MR") for _ in range(2)]
    for ds in a + b:
        store(stack, ds)
    store(stack, a[0])  # a second version of one instance: versions must go too
    stack.drain()
    stack.get(f"/studies/{study}/series/{s1}/metadata")  # derived documents exist
    stack.get(f"/studies/{study}/series/{s1}/instances/{a[0].SOPInstanceUID}/thumbnail")
    return study, s1, s2, a, b


def test_delete_instance_series_study(stack):
    study, s1, s2, a, _ = archive(stack)
    inst = f"/studies/{study}/series/{s1}/instances/{a[0].SOPInstanceUID}"
    assert len(versions(stack, f"dicom/t1/{study}/{s1}/{a[0].SOPInstanceUID}.dcm")) == 2
    assert stack.http.delete(stack.url + inst).status_code == 204
    assert stack.get(inst).status_code == 404  # WADO at once: S3 no longer holds it
    assert versions(stack, f"dicom/t1/{study}/{s1}/{a[0].SOPInstanceUID}.dcm") == []
    assert versions(stack, f"derived/t1/{study}/{s1}/thumbnails/{a[0].SOPInstanceUID}/") == []
    for _ in ("at once", "once the indexer drained the ObjectRemoved events"):
        (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
        assert found["00201208"]["Value"] == [3] and found["00201206"]["Value"] == [2]
        meta = stack.get(f"/studies/{study}/series/{s1}/metadata").json()
        assert [m["00080018"]["Value"][0] for m in meta] == [a[1].SOPInstanceUID]
        stack.drain()
    # a series
    assert stack.http.delete(f"{stack.url}/studies/{study}/series/{s2}").status_code == 204
    for _ in ("at once", "drained"):
        (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
        assert found["00201206"]["Value"] == [1] and found["00080061"]["Value"] == ["CT"]
        assert stack.get(f"/studies/{study}/series/{s2}/metadata").status_code == 404
        assert stack.get("/studies", params={"ModalitiesInStudy": "MR"}).json() == []
        stack.drain()
    # the study
    assert stack.http.delete(f"{stack.url}/studies/{study}").status_code == 204
    for _ in ("at once", "drained"):
        assert stack.get("/studies").json() == []
        assert stack.get(f"/studies/{study}").status_code == 404
        stack.drain()
    assert (
        versions(stack, f"dicom/t1/{study}/") == []
        and versions(stack, f"derived/t1/{study}/") == []
    )
    # unknown or already deleted: 404
    assert stack.http.delete(f"{stack.url}/studies/{study}").status_code == 404
    assert stack.http.delete(f"{stack.url}/studies/{uid()}").status_code == 404


def test_a_delete_interrupted_after_the_s3_step_completes_on_retry(stack):
    study, s1, _, _, _ = archive(stack)
    s3 = stack.deps.clients.s3
    with inject_error(
        s3, "DeleteObjects", "InternalError", times=1, when=lambda p: "derived/" in str(p)
    ):
        r = stack.http.delete(f"{stack.url}/studies/{study}/series/{s1}")
    assert r.status_code == 503  # retryable; the stored objects went, the derived ones did not
    assert versions(stack, f"dicom/t1/{study}/{s1}/") == []
    assert versions(stack, f"derived/t1/{study}/{s1}/") != []
    assert stack.http.delete(f"{stack.url}/studies/{study}/series/{s1}").status_code == 204
    assert versions(stack, f"derived/t1/{study}/{s1}/") == []


def test_remove_events_twice_and_out_of_order_converge(stack, lambda_app):
    study, s1, _, a, _ = archive(stack)
    key = f"dicom/t1/{study}/{s1}/{a[1].SOPInstanceUID}.dcm"
    stack.http.delete(f"{stack.url}/studies/{study}/series/{s1}/instances/{a[1].SOPInstanceUID}")
    bucket = stack.deps.settings.bucket
    deliver(lambda_app, [s3_record(bucket, key, "ObjectRemoved:Delete")] * 2)
    deliver(lambda_app, [s3_record(bucket, key, "ObjectCreated:Put")])  # late create
    stack.drain()
    (found,) = stack.get("/studies", params={"StudyInstanceUID": study}).json()
    assert found["00201208"]["Value"] == [3]


def test_change_feed_in_order_and_paged_without_gaps(stack):
    study = uid()
    dss = [dataset(study=study) for _ in range(3)]
    for ds in dss:
        store(stack, ds)
    stack.drain()
    store(stack, dss[0])  # the same bytes again: unchanged, no entry
    stack.drain()
    gone = dss[1]
    stack.http.delete(
        f"{stack.url}/studies/{study}/series/{gone.SeriesInstanceUID}/instances/{gone.SOPInstanceUID}"
    )
    stack.drain()
    feed = stack.get("/changefeed", params={"limit": "100"}).json()
    assert [e["action"] for e in feed] == ["created"] * 3 + ["deleted"]
    assert feed[-1]["sopInstanceUid"] == gone.SOPInstanceUID
    sequences = [e["sequence"] for e in feed]
    assert sequences == sorted(sequences) and len(set(sequences)) == 4
    paged, after = [], 0
    while True:
        page = stack.get("/changefeed", params={"startAfter": str(after), "limit": "2"}).json()
        if not page:
            break
        paged += page
        after = page[-1]["sequence"]
    assert paged == feed
    assert stack.get("/changefeed/latest").json() == feed[-1]
    assert stack.get("/changefeed", params={"limit": "0"}).status_code == 400
    from tests.conftest import OTHER_KEY

    assert stack.http.get(stack.url + "/changefeed", headers={"apikey": OTHER_KEY}).json() == []


def test_delete_removes_composed_answers_too(lambda_app):
    """Bundles (composed answers over the payload limit) hold patient data: deleting the
    study deletes them."""
    import dataclasses

    from local.harness import in_process_stack
    from tests.conftest import KEY

    deps = lambda_app.deps
    original = deps.settings
    deps.settings = dataclasses.replace(original, payload_limit=1024 * 1024)
    try:
        with in_process_stack(lambda_app, KEY) as stack:
            study = uid()
            for _ in range(3):
                store(stack, dataset(study=study, rows=500, columns=500))
            stack.drain()
            assert stack.get(f"/studies/{study}").status_code == 200  # through a bundle
            assert (
                stack.get(f"/studies/{study}", headers={"Accept": "application/zip"}).status_code
                == 200
            )
            assert len(versions(stack, f"derived/t1/{study}/bundles/")) == 2
            assert stack.http.delete(f"{stack.url}/studies/{study}").status_code == 204
            assert versions(stack, f"derived/t1/{study}/") == []
            assert stack.get(f"/studies/{study}").status_code == 404
    finally:
        deps.settings = original


def test_a_delete_racing_the_indexer_still_converges(stack, lambda_app):
    """The object is deleted after the indexer read it and before it wrote the catalog (its
    remove event handled first): the indexer's own re-check removes what it just wrote. The
    object is dropped into S3 directly (a STOW would have indexed it already)."""
    ds = dataset()
    s3 = stack.deps.clients.s3
    bucket = stack.deps.settings.bucket
    key = f"dicom/t1/{ds.StudyInstanceUID}/{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
    s3.put_object(Bucket=bucket, Key=key, Body=to_bytes(ds))

    def purge_after_read(**_):
        for v in s3.list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []):
            s3.delete_object(Bucket=bucket, Key=key, VersionId=v["VersionId"])

    db = stack.deps.clients.dynamodb
    db.meta.events.register_first("before-call.dynamodb.TransactWriteItems", purge_after_read)
    try:
        deliver(lambda_app, [s3_record(bucket, key)])
    finally:
        db.meta.events.unregister("before-call.dynamodb.TransactWriteItems", purge_after_read)
    assert stack.get("/studies").json() == []  # before any remove event is handled
    stack.drain()
    assert stack.get("/studies").json() == []
