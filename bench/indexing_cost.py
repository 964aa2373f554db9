"""What storing and indexing one instance costs in AWS requests and bytes.

Runs the real app in-process on moto (``local.harness``) and counts every AWS call the API
and the indexer make (``chalicelib.storage.metering``): STOW of N 512x512 16-bit CT instances
(one per request), then indexing them. Usage: ``python -m bench.indexing_cost [N]``.
"""

from __future__ import annotations

import sys

from local.testenv import use_test_environment

use_test_environment()

from moto import mock_aws

from bench.datasets import Generator
from local.harness import in_process_stack, prepared_app

KEY = "bench-key-" + "k" * 32


def per_instance(snapshot: dict[str, dict[str, float]], n: int) -> list[str]:
    rows = []
    for op, c in snapshot.items():
        rows.append(
            f"  {op:32s} calls {c['calls'] / n:6.2f}  sent {c['bytes_sent'] / n:10.0f} B"
            f"  received {c['bytes_received'] / n:10.0f} B  items read {c['items_read'] / n:5.2f}"
            f"  written {c['items_written'] / n:5.2f}"
        )
    return rows


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    gen = Generator(seed=7)
    study, series = gen.uid(), gen.uid()
    instances = [gen.ct(study, series, i + 1) for i in range(n)]
    with mock_aws(), prepared_app({"bench": KEY}) as app, in_process_stack(app, KEY) as stack:
        stack.get("/studies")  # warm the key cache: the lookup is not part of a STOW
        stack.counter.reset()
        for data in instances:
            r = stack.post("/studies", data=data, headers={"Content-Type": "application/dicom"})
            assert r.status_code == 200, r.text
        stow = stack.counter.snapshot()
        stack.counter.reset()
        stack.drain()
        index = stack.counter.snapshot()
        found = stack.get(f"/studies/{study}/series/{series}/instances").json()
        assert len(found) == n
    size = len(instances[0])
    print(f"{n} instances of {size} bytes (512x512x16 CT), one STOW request each")
    print("STOW, per instance:")
    print("\n".join(per_instance(stow, n)))
    print("indexing, per instance (SQS calls are per batch of up to 10 messages):")
    print("\n".join(per_instance(index, n)))
    s3_read = index.get("s3.GetObject", {}).get("bytes_received", 0) / n
    calls = sum(c["calls"] for c in stow.values()) + sum(c["calls"] for c in index.values())
    print(f"S3 bytes read by the indexer per instance: {s3_read:.0f} ({s3_read / 1024:.1f} KiB)")
    print(f"AWS calls per stored-and-indexed instance: {calls / n:.2f}")


if __name__ == "__main__":
    main()
