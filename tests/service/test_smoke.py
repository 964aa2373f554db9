from tests.factories import instance_bytes, multipart_body, uid

MULTIPART = 'multipart/related; type="application/dicom"; boundary=test-boundary'


def test_store_index_search_retrieve(stack):
    study = uid()
    parts = [instance_bytes(study=study, series="1.2.3", sop=f"1.2.3.{i}") for i in range(3)]
    r = stack.post("/studies", data=multipart_body(parts), headers={"Content-Type": MULTIPART})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["00081199"]["Value"]) == 3
    assert stack.drain() >= 3
    r = stack.get("/studies")
    assert r.status_code == 200
    (found,) = r.json()
    assert found["0020000D"]["Value"] == [study]
    assert found["00201208"]["Value"] == [3]
    assert found["00201206"]["Value"] == [1]
    assert found["00080061"]["Value"] == ["CT"]
    r = stack.get(
        f"/studies/{study}/series/1.2.3/instances/1.2.3.1",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
    )
    assert r.status_code == 200
    assert parts[1] in r.content
