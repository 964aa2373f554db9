"""Numeric parameters refuse, with a 400, what ``int()`` and ``float()`` cannot use: '²' is a
digit to ``str.isdigit`` but not to ``int`` (a 500 before), and ``float`` reads 'nan' and 'inf'
(a 500 from a NaN viewport, an image of garbage from a NaN window). Found by the schemathesis
run's edge values (tests/service/test_openapi_schemathesis.py)."""

from __future__ import annotations

import pytest

from tests.factories import dataset, multipart_body, to_bytes
from tests.service.helpers import MULTIPART

SUPERSCRIPT_TWO = "\u00b2"
ARABIC_THREE = "\u0663"  # a decimal digit: int() reads it, like the ASCII 3

CASES = [
    ("{instance}/frames/{digit}/rendered", "InvalidFrameList"),
    ("{instance}/frames/{digit}/thumbnail", "InvalidFrameList"),
    ("{instance}/rendered?quality={digit}", "InvalidParameter"),
    ("{instance}/rendered?window=0,nan", "InvalidParameter"),
    ("{instance}/rendered?window=nan,10", "InvalidParameter"),
    ("{instance}/rendered?window=1,inf", "InvalidParameter"),
    ("{instance}/rendered?viewport=nan,10", "InvalidParameter"),
    ("{instance}/thumbnail?viewport=10,10,0,0,nan,5", "InvalidParameter"),
    ("{wado}&frameNumber={digit}", "InvalidParameter"),
    ("{wado}&rows={digit}", "InvalidParameter"),
    ("{wado}&imageQuality={digit}", "InvalidParameter"),
    ("{wado}&windowCenter=nan&windowWidth=10", "InvalidParameter"),
    ("{wado}&windowCenter=1&windowWidth=inf", "InvalidParameter"),
    ("/changefeed?startAfter={digit}", "InvalidParameter"),
    ("/changefeed?limit={digit}", "InvalidParameter"),
]


@pytest.fixture
def stored(stack):
    ds = dataset(frames=2)
    r = stack.post(
        "/studies", data=multipart_body([to_bytes(ds)]), headers={"Content-Type": MULTIPART}
    )
    assert r.status_code == 200, r.text
    stack.drain()
    instance = (
        f"/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
    )
    wado = (
        f"/wado?requestType=WADO&studyUID={ds.StudyInstanceUID}"
        f"&seriesUID={ds.SeriesInstanceUID}&objectUID={ds.SOPInstanceUID}"
    )
    return stack, instance, wado


def test_not_a_number_is_a_400(stored):
    stack, instance, wado = stored
    for template, code in CASES:
        path = template.format(instance=instance, wado=wado, digit=SUPERSCRIPT_TWO)
        r = stack.get(path)
        assert r.status_code == 400, (template, r.text)
        assert r.json()["error"]["code"] == code, template
    r = stack.post(f"/uploads/{'0' * 24}/files/{SUPERSCRIPT_TWO}/complete", json={"parts": []})
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "InvalidUpload"


def test_decimal_digits_of_other_scripts(stored):
    """Every number the service reads is ASCII digits (issue 23: startAfter=U+0661 was read as
    1; rendered quality, QIDO's limit and offset, the rejected-imports limit and QIDO dates
    took what int() and \\d take, any script's digits)."""
    stack, instance, _ = stored
    arabic_date = "".join(chr(0x0660 + int(c)) for c in "20250102")
    for path in (
        f"{instance}/rendered?quality={ARABIC_THREE}",
        f"/changefeed?limit={ARABIC_THREE}",
        f"/studies?limit={ARABIC_THREE}",
        f"/studies?offset={ARABIC_THREE}",
        f"/imports/rejected?limit={ARABIC_THREE}",
        f"/studies?StudyDate={arabic_date}",
    ):
        r = stack.get(path)
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "InvalidParameter", path
    assert stack.get(f"{instance}/rendered?quality=3").status_code == 200
    assert stack.get("/studies?StudyDate=20250102&limit=3&offset=0").status_code == 200
