"""A 200 MB series through the large-object path against the local stack (what ``make serve``
runs): presigned uploads, indexing, then retrieval by ``curl -L`` and by dicomweb-client's
streaming ``iter_series``. Prints the times.

Usage: ``python -m bench.large_series [MB]`` (default 200).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import requests
from dicomweb_client.api import DICOMwebClient

from bench.datasets import Generator
from local.spawn import spawn_stack

SIDE = 2000  # 2000 x 2000 x 16 bit: 8 MB an instance


def main() -> None:
    total_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    count = max(1, total_mb * 1_000_000 // (SIDE * SIDE * 2))
    gen = Generator(seed=9)
    study, series = gen.uid(), gen.uid()
    files = []
    for i in range(count):
        ds = pydicom.dcmread(io.BytesIO(gen.ct(study, series, i + 1, size=16)))
        ds.Rows = ds.Columns = SIDE
        ds.PixelData = np.full((SIDE, SIDE), i, dtype=np.uint16).tobytes()
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        files.append(buf.getvalue())
    size = sum(len(f) for f in files)
    work = Path(tempfile.mkdtemp())
    served = spawn_stack(work / "state", "bench-large-key")
    headers = {"apikey": served.key}
    try:
        t0 = time.monotonic()
        r = requests.post(
            served.url + "/uploads",
            json={"files": [{"name": f"{i}.dcm", "size": len(f)} for i, f in enumerate(files)]},
            headers=headers,
        )
        r.raise_for_status()
        specs = r.json()["files"]

        def put(pair: tuple[dict, bytes]) -> int:
            spec, data = pair
            return requests.put(spec["url"], data=data, headers=spec["headers"]).status_code

        with ThreadPoolExecutor(4) as pool:
            assert set(pool.map(put, zip(specs, files, strict=True))) == {200}
        uploaded = time.monotonic() - t0
        status = r.json()["status"]
        while True:
            report = requests.get(status, headers=headers).json()
            if report["pending"] == 0:
                break
            time.sleep(0.5)
        indexed = time.monotonic() - t0
        assert report["stored"] == count, report
        out = work / "series.multipart"
        t1 = time.monotonic()
        subprocess.run(
            [
                "curl",
                "-sfL",
                f"{served.url}/studies/{study}/series/{series}",
                "-H",
                f"apikey: {served.key}",
                "-H",
                'Accept: multipart/related; type="application/dicom"; transfer-syntax=*',
                "-o",
                str(out),
            ],
            check=True,
        )
        curl_s = time.monotonic() - t1
        got = out.stat().st_size
        t2 = time.monotonic()
        client = DICOMwebClient(served.url, headers=headers)
        streamed = sum(1 for _ in client.iter_series(study, series))
        client_s = time.monotonic() - t2
    finally:
        served.stop()
    print(f"{count} instances, {size / 1e6:.0f} MB")
    print(f"presigned upload of all files: {uploaded:.1f} s; all indexed after {indexed:.1f} s")
    print(f"curl -L (303 to a composed multipart body): {curl_s:.1f} s, {got / 1e6:.0f} MB")
    print(f"dicomweb-client iter_series: {client_s:.1f} s, {streamed} instances")
    assert got > size and streamed == count


if __name__ == "__main__":
    main()
