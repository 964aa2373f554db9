"""One DICOMweb benchmark client for any server: it takes a base URL and headers, so the very
same requests measure this service and Orthanc (``make bench``, docs/benchmarks/orthanc.md).

Scenarios, in order: STOW throughput (the corpus of ``bench.datasets.corpus`` in multipart
batches that fit Lambda's 6 MB payload once base64-encoded), STOW -> QIDO visibility lag, then
QIDO, metadata, retrieve, frames and rendered frames (p50/p95 latency), then QIDO and WADO
again with several client threads at once (``--throughput-clients``, 4: requests/s). With
several servers every scenario alternates between them batch by batch, the order flipping each
round, so machine noise hits all of them alike. Every scenario is bounded in requests and time.

Connections: STOW and the visibility poll keep one connection per client thread (a bulk
uploader and a poller reuse theirs). Every read scenario opens a NEW connection per request
(``Connection: close``): the local front (uvicorn) and Orthanc (CivetWeb) treat keep-alive
differently (idle timeouts, Nagle and delayed ACKs on small responses), which would measure
the servers' connection handling rather than their DICOMweb work.

Usage: ``python -m bench.runner --server NAME URL [--header NAME 'Key: value'] ...``, or
``--local-stack`` / ``--orthanc`` to start those on free loopback ports (bench/servers.py);
``--out DIR`` writes orthanc.md, orthanc.json and orthanc.png there (bench/report.py).
Nothing printed or written carries patient data: the corpus is synthetic and only scenario
names, counts and timings are reported.
"""

from __future__ import annotations

import argparse
import io
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import requests
from pydicom import dcmread

from bench.datasets import Corpus, Generator, Instance, corpus
from bench.samples import Samples, Server

#: Lambda's 6 MB payload carries the body base64-encoded (x 4/3) inside a JSON event with the
#: request's headers: 4.4 MB of body leaves room for both.
STOW_BODY_LIMIT = 4_400_000
DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'
FRAMES_ANY = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
DICOM_JSON = "application/dicom+json"


@dataclass(frozen=True)
class Request:
    path: str
    params: dict[str, str] = field(default_factory=dict)
    accept: str = DICOM_JSON


def batches(instances: Sequence[Instance], limit: int = STOW_BODY_LIMIT) -> list[list[Instance]]:
    """Consecutive instances grouped so each multipart body stays under ``limit`` bytes; an
    instance larger than the limit alone goes in a batch of its own (the server may refuse)."""
    out: list[list[Instance]] = []
    size = 0
    for inst in instances:
        part = len(inst.data) + 200  # boundary and part headers
        if out and size + part <= limit:
            out[-1].append(inst)
            size += part
        else:
            out.append([inst])
            size = part
    return out


def multipart(parts: Sequence[bytes], boundary: str) -> bytes:
    """A multipart/related body of application/dicom parts."""
    head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
    body = b"".join(head + p + b"\r\n" for p in parts)
    return body + f"--{boundary}--\r\n".encode()


def stow_failures(response: requests.Response, expected: int) -> str | None:
    """None if a Store Instances Response references all ``expected`` instances."""
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    doc = response.json()
    failed = doc.get("00081198", {}).get("Value") or []
    stored = doc.get("00081199", {}).get("Value") or []
    if failed or len(stored) != expected:
        return f"{len(failed)} failed, {len(stored)}/{expected} stored"
    return None


def error_message(response: requests.Response) -> str:
    """': <message>' from a JSON error body (this service: message, Orthanc: Message), at most
    80 characters; the corpus is synthetic, and the messages name no patient values."""
    try:
        doc = response.json()
    except ValueError:
        return ""
    text = doc.get("message") or doc.get("Message") if isinstance(doc, dict) else None
    return f": {str(text)[:80]}" if text else ""


class Client:
    """Requests to one server. ``session()`` is per thread (keep-alive); ``get`` is a fresh
    connection every time."""

    def __init__(self, server: Server, timeout: float = 60.0) -> None:
        self.server = server
        self.timeout = timeout
        self._local = threading.local()

    def session(self) -> requests.Session:
        s = getattr(self._local, "session", None)
        if s is None:
            s = self._local.session = requests.Session()
            s.headers.update(self.server.headers)
        return s

    def stow(self, instances: Sequence[Instance]) -> tuple[float, str | None]:
        boundary = uuid.uuid4().hex
        body = multipart([i.data for i in instances], boundary)
        content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
        t0 = time.perf_counter()
        try:
            r = self.session().post(
                self.server.url + "/studies",
                data=body,
                headers={"Content-Type": content_type, "Accept": DICOM_JSON},
                timeout=self.timeout,
            )
            error = stow_failures(r, len(instances))
        except requests.RequestException as exc:
            error = type(exc).__name__
        return time.perf_counter() - t0, error

    def get(self, req: Request, fresh: bool = True) -> tuple[float, int, str | None]:
        """(seconds, size, error): size is the number of JSON items for a JSON list answer,
        else the body's bytes."""
        headers = {**self.server.headers, "Accept": req.accept}
        t0 = time.perf_counter()
        try:
            if fresh:
                with requests.Session() as s:
                    headers["Connection"] = "close"
                    r = s.get(
                        self.server.url + req.path,
                        params=req.params,
                        headers=headers,
                        timeout=self.timeout,
                    )
            else:
                r = self.session().get(
                    self.server.url + req.path,
                    params=req.params,
                    headers=headers,
                    timeout=self.timeout,
                )
        except requests.RequestException as exc:
            return time.perf_counter() - t0, 0, type(exc).__name__
        elapsed = time.perf_counter() - t0
        if r.status_code == 204:
            return elapsed, 0, None
        if r.status_code != 200:
            return elapsed, 0, f"HTTP {r.status_code}{error_message(r)}"
        if r.headers.get("Content-Type", "").startswith(DICOM_JSON):
            return elapsed, len(r.json()), None
        return elapsed, len(r.content), None


# --- scenarios ------------------------------------------------------------------------------


def read_scenarios(c: Corpus) -> dict[str, Callable[[int], Request]]:
    """Scenario name -> the i-th request of it (the same on every server)."""
    ct, mr = c.of_kind("CT"), c.of_kind("MR")
    plain = ct + mr
    studies = sorted({i.study for i in plain}, key=[i.study for i in plain].index)
    series = sorted(
        {(i.study, i.series) for i in plain}, key=[(i.study, i.series) for i in plain].index
    )
    j2k, multi = c.of_kind("CT JPEG 2000"), c.of_kind("CT multi-frame")[0]

    def inst(i: Instance) -> str:
        return f"/studies/{i.study}/series/{i.series}/instances/{i.sop}"

    def pick(items: Sequence[Any], n: int) -> Any:
        return items[n % len(items)]

    return {
        "QIDO studies by PatientID": lambda n: Request(
            "/studies", {"PatientID": pick(c.patients, n)}
        ),
        "QIDO studies by date range": lambda n: Request(
            "/studies", {"StudyDate": "20250101-20250630"}
        ),
        "QIDO studies by modality": lambda n: Request("/studies", {"ModalitiesInStudy": "MR"}),
        "QIDO series of a study": lambda n: Request(f"/studies/{pick(studies, n)}/series"),
        "QIDO instances of a series": lambda n: Request(
            "/studies/{}/series/{}/instances".format(*pick(series, n))
        ),
        "study metadata": lambda n: Request(f"/studies/{pick(studies, n)}/metadata"),
        "series metadata": lambda n: Request(
            "/studies/{}/series/{}/metadata".format(*pick(series, n))
        ),
        "instance (512x512 CT, as stored)": lambda n: Request(inst(pick(ct, n)), accept=DICOM_ANY),
        "series (8 instances, 4 MB, as stored)": lambda n: Request(
            "/studies/{}/series/{}".format(*pick(series, n)), accept=DICOM_ANY
        ),
        "frame 1 (512x512 CT, native)": lambda n: Request(
            inst(pick(ct, n)) + "/frames/1", accept=FRAMES_ANY
        ),
        "frame 50 of a 100-frame instance": lambda n: Request(
            inst(multi) + "/frames/50", accept=FRAMES_ANY
        ),
        "frame 1 (JPEG 2000, as stored)": lambda n: Request(
            inst(pick(j2k, n)) + "/frames/1", accept=FRAMES_ANY
        ),
        "rendered frame (CT, image/jpeg)": lambda n: Request(
            inst(pick(ct, n)) + "/frames/1/rendered", accept="image/jpeg"
        ),
        "rendered frame (JPEG 2000 CT, image/jpeg)": lambda n: Request(
            inst(pick(j2k, n)) + "/frames/1/rendered", accept="image/jpeg"
        ),
    }


T = TypeVar("T")


def alternate(servers: Sequence[T], round_no: int) -> list[T]:
    """The servers in order on even rounds, reversed on odd ones."""
    return list(servers) if round_no % 2 == 0 else list(reversed(servers))


def pooled(work: Sequence[Callable[[], T]], concurrency: int) -> tuple[list[T], float]:
    """Run ``work`` on ``concurrency`` threads: the results in order and the wall time."""
    t0 = time.perf_counter()
    if concurrency <= 1:
        out = [w() for w in work]
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            out = list(pool.map(lambda w: w(), work))
    return out, time.perf_counter() - t0


def run_stow(
    clients: Sequence[Client], c: Corpus, concurrency: int, rounds: int, log: Callable[[str], None]
) -> dict[str, Samples]:
    """Every corpus instance into every server; batches split into ``rounds`` chunks, the
    servers taking turns chunk by chunk."""
    out = {cl.server.name: Samples() for cl in clients}
    todo = batches(c.instances)
    chunks = [todo[i::rounds] for i in range(rounds)]
    for n, chunk in enumerate(chunks):
        for cl in alternate(clients, n):
            s = out[cl.server.name]
            results, wall = pooled([partial(cl.stow, b) for b in chunk], concurrency)
            s.wall_s += wall
            s.instances += sum(len(b) for b in chunk)
            s.bytes_sent += sum(len(i.data) for b in chunk for i in b)
            for (seconds, error), b in zip(results, chunk, strict=True):
                s.ms.append(seconds * 1000)
                if error:
                    s.errors.append(f"batch of {len(b)}: {error}")
        log(f"STOW round {n + 1}/{rounds} done")
    return out


def study_counts(c: Corpus) -> dict[str, int]:
    counts: dict[str, int] = {}
    for i in c.instances:
        counts[i.study] = counts.get(i.study, 0) + 1
    return counts


def wait_indexed(client: Client, expected: dict[str, int], timeout: float) -> float:
    """Seconds until QIDO lists every study with its expected instance count (or raises)."""
    t0 = time.monotonic()
    pending = dict(expected)
    while pending:
        for study, count in list(pending.items()):
            r = client.session().get(
                client.server.url + "/studies",
                params={"StudyInstanceUID": study, "includefield": "00201208"},
                headers={"Accept": DICOM_JSON},
                timeout=client.timeout,
            )
            found = r.json() if r.status_code == 200 else []
            if found and found[0].get("00201208", {}).get("Value", [0])[0] == count:
                del pending[study]
        if pending and time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{client.server.name}: {len(pending)} studies not indexed")
        if pending:
            time.sleep(0.5)
    return time.monotonic() - t0


def run_visibility(
    clients: Sequence[Client], n: int, seed: int, bound_s: float
) -> dict[str, Samples]:
    """Store one instance, then poll QIDO for it every 10 ms (keep-alive) until it is listed;
    ``n`` times per server, alternating. A poll longer than ``bound_s`` is an error."""
    gen = Generator(seed)
    study, series = gen.uid(), gen.uid()
    out = {cl.server.name: Samples() for cl in clients}
    for k in range(n):
        data = gen.ct(study, series, k + 1)
        sop = dcmread(io.BytesIO(data), stop_before_pixels=True).SOPInstanceUID
        item = Instance(study, series, sop, "CT", data)
        for cl in alternate(clients, k):
            s = out[cl.server.name]
            _, error = cl.stow([item])
            if error:
                s.errors.append(f"STOW: {error}")
                continue
            stored = time.perf_counter()
            query = Request(f"/studies/{study}/series/{series}/instances", {"SOPInstanceUID": sop})
            while True:
                _, size, error = cl.get(query, fresh=False)
                if size:
                    s.ms.append((time.perf_counter() - stored) * 1000)
                    break
                if time.perf_counter() - stored > bound_s:
                    s.errors.append(f"not visible after {bound_s:.0f} s")
                    break
                time.sleep(0.01)
    return out


def one_round(
    clients: Sequence[Client],
    r: int,
    reqs: Sequence[Any],
    samples: dict[str, Samples],
    concurrency: int,
) -> None:
    """Round ``r`` of one scenario: the same requests to each server in turn (the order flips
    each round), ``concurrency`` at a time, into each server's samples."""
    for cl in alternate(clients, r):
        s = samples[cl.server.name]
        results, wall = pooled([partial(cl.get, q) for q in reqs], concurrency)
        s.wall_s += wall
        for seconds, size, error in results:
            if error:
                s.errors.append(error)
            else:
                s.ms.append(seconds * 1000)
                s.sizes.append(size)


def run_reads(
    clients: Sequence[Client],
    c: Corpus,
    rounds: int,
    per_round: int,
    concurrency: int,
    deadline_s: float,
    log: Callable[[str], None],
) -> dict[str, dict[str, Samples]]:
    """Each scenario: ``rounds`` x ``per_round`` requests per server, alternating per round; a
    scenario stops early (after a whole round) once it has used ``deadline_s``."""
    out: dict[str, dict[str, Samples]] = {}
    for name, make in read_scenarios(c).items():
        out[name] = {cl.server.name: Samples() for cl in clients}
        started = time.monotonic()
        for r in range(rounds):
            reqs = [make(r * per_round + k) for k in range(per_round)]
            one_round(clients, r, reqs, out[name], concurrency)
            if time.monotonic() - started > deadline_s:
                break
        log(f"{name}: done")
    return out


#: The scenarios measured again with several clients at once (requests per second).
THROUGHPUT_SCENARIOS = (
    "QIDO studies by PatientID",
    "QIDO instances of a series",
    "instance (512x512 CT, as stored)",
    "frame 1 (512x512 CT, native)",
)


def run_throughput(
    clients: Sequence[Client],
    c: Corpus,
    concurrency: int,
    rounds: int,
    per_round: int,
    log: Callable[[str], None],
) -> dict[str, dict[str, Samples]]:
    """``THROUGHPUT_SCENARIOS`` with ``concurrency`` client threads: ``rounds`` batches of
    ``per_round`` requests per server, alternating; requests/s = requests / the batches' wall."""
    scenarios = read_scenarios(c)
    out: dict[str, dict[str, Samples]] = {}
    for name in THROUGHPUT_SCENARIOS:
        out[name] = {cl.server.name: Samples() for cl in clients}
        for r in range(rounds):
            reqs = [scenarios[name](r * per_round + k) for k in range(per_round)]
            one_round(clients, r, reqs, out[name], concurrency)
        log(f"{name}, {concurrency} clients: done")
    return out


def run(
    servers: Sequence[Server],
    data: Corpus,
    *,
    rounds: int = 5,
    per_round: int = 10,
    concurrency: int = 1,
    lag_instances: int = 10,
    index_timeout_s: float = 300.0,
    scenario_deadline_s: float = 60.0,
    throughput_clients: int = 4,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every scenario against every server; the raw figures (bench/report.py summarises)."""
    clients = [Client(s) for s in servers]
    t0 = time.monotonic()
    stow = run_stow(clients, data, concurrency, rounds, log)
    indexed = {
        cl.server.name: wait_indexed(cl, study_counts(data), index_timeout_s) for cl in clients
    }
    log("indexed: " + ", ".join(f"{k} {v:.1f} s after the last STOW" for k, v in indexed.items()))
    lag = run_visibility(clients, lag_instances, seed=991, bound_s=30.0)
    log("visibility lag done")
    reads = run_reads(clients, data, rounds, per_round, concurrency, scenario_deadline_s, log)
    throughput = (
        run_throughput(clients, data, throughput_clients, rounds, per_round * 2, log)
        if throughput_clients > 1
        else {}
    )
    return {
        "servers": [s.name for s in servers],
        "concurrency": concurrency,
        "corpus": {
            "instances": len(data.instances),
            "bytes": data.nbytes,
            "kinds": {
                k: len(data.of_kind(k)) for k in dict.fromkeys(i.kind for i in data.instances)
            },
        },
        "stow": stow,
        "indexed_after_s": indexed,
        "visibility": lag,
        "reads": reads,
        "throughput_clients": throughput_clients,
        "throughput": throughput,
        "elapsed_s": time.monotonic() - t0,
    }


# --- what bounds the local stack --------------------------------------------------------------


def emulator_costs(repeat: int = 200) -> dict[str, float]:
    """Median milliseconds of one AWS call, botocore to moto and back, in this process as the
    local stack makes them (``mock_aws``, ``moto_patches``, ``moto_fast``): the floor under every
    request of this service on moto, whatever the app does with the answer."""
    import statistics

    import boto3
    from moto import mock_aws

    from chalicelib.storage.schema import catalog_table
    from local.moto_fast import make_answers_cheap, make_routes_kept
    from local.moto_patches import make_emulator_safe

    make_emulator_safe()
    make_answers_cheap()
    make_routes_kept()
    body = bytes(525_000)
    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        s3 = boto3.client("s3", region_name="us-east-1")
        db.create_table(**catalog_table("t"))
        s3.create_bucket(Bucket="bench-emulator")
        for n in range(50):
            db.put_item(
                TableName="t",
                Item={
                    "pk": {"S": "study"},
                    "sk": {"S": f"{n:03}"},
                    "uid_pk": {"S": f"uid#{n}"},
                    "uid_sk": {"S": "x"},
                    "attrs": {"S": "v" * 300},
                },
            )
        s3.put_object(Bucket="bench-emulator", Key="k", Body=body)
        calls: dict[str, Callable[[], Any]] = {
            "DynamoDB GetItem": lambda: db.get_item(
                TableName="t", Key={"pk": {"S": "study"}, "sk": {"S": "007"}}
            ),
            "DynamoDB Query, 10 items of a partition": lambda: db.query(
                TableName="t",
                KeyConditionExpression="pk = :p",
                ExpressionAttributeValues={":p": {"S": "study"}},
                Limit=10,
            ),
            "DynamoDB Query, one GSI key (Limit 1)": lambda: db.query(
                TableName="t",
                IndexName="by_uid",
                KeyConditionExpression="uid_pk = :p AND uid_sk = :s",
                ExpressionAttributeValues={":p": {"S": "uid#7"}, ":s": {"S": "x"}},
                Limit=1,
            ),
            "S3 HeadObject": lambda: s3.head_object(Bucket="bench-emulator", Key="k"),
            "S3 GetObject, 525 kB": lambda: s3.get_object(Bucket="bench-emulator", Key="k")[
                "Body"
            ].read(),
            "S3 PutObject, 525 kB": lambda: s3.put_object(
                Bucket="bench-emulator", Key="k", Body=body
            ),
        }
        out = {}
        for name, call in calls.items():
            call()
            times = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                call()
                times.append((time.perf_counter() - t0) * 1000)
            out[name] = round(statistics.median(times), 2)
    return out


def request_floor(server: Server, path: str, n: int = 200) -> float:
    """Median milliseconds of a request that makes no AWS call (a new connection each, as the
    read scenarios): the front, the gateway, the app's middleware and this client."""
    client = Client(server)
    times = [client.get(Request(path, accept="application/json"))[0] * 1000 for _ in range(n)]
    return round(sorted(times)[len(times) // 2], 2)


# --- command line ---------------------------------------------------------------------------


def parse_header(text: str) -> tuple[str, str]:
    """'Key: value' -> (Key, value)."""
    key, sep, value = text.partition(":")
    if not sep or not key.strip():
        raise ValueError(f"not a 'Key: value' header: {text!r}")
    return key.strip(), value.strip()


def servers_from_args(
    pairs: Sequence[Sequence[str]], headers: Sequence[Sequence[str]]
) -> list[Server]:
    found = {name: Server(name, url.rstrip("/"), {}) for name, url in pairs}
    for name, text in headers:
        if name not in found:
            raise ValueError(f"--header for an unknown server {name!r}")
        key, value = parse_header(text)
        found[name].headers[key] = value
    return list(found.values())


def main(argv: Sequence[str] | None = None) -> None:
    from bench import report, servers  # servers starts processes; report imports matplotlib

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", nargs=2, action="append", default=[], metavar=("NAME", "URL"))
    parser.add_argument("--header", nargs=2, action="append", default=[], metavar=("NAME", "H"))
    parser.add_argument("--local-stack", action="store_true", help="start python -m local.stack")
    parser.add_argument("--orthanc", action="store_true", help="start Orthanc + DICOMweb plugin")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument(
        "--throughput-clients", type=int, default=4, help="clients of the throughput runs (1: none)"
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--per-round", type=int, default=20)
    parser.add_argument("--patients", type=int, default=8)
    parser.add_argument("--instances", type=int, default=8, help="per series")
    parser.add_argument("--out", type=Path, help="write orthanc.md/.json/.png here")
    args = parser.parse_args(argv)

    started = time.monotonic()
    load_before = round(os.getloadavg()[0], 2)
    emulator = emulator_costs() if args.local_stack else {}
    data = corpus(seed=1, patients=args.patients, instances=args.instances)
    print(f"corpus: {len(data.instances)} instances, {data.nbytes / 1e6:.1f} MB")
    with ExitStack() as stack:
        chosen: list[Server] = []
        about: dict[str, Any] = {}
        floor = None
        if args.local_stack:
            chosen.append(stack.enter_context(servers.local_stack()))
            floor = request_floor(chosen[-1], "/health")
        if args.orthanc:
            server, about["orthanc"] = stack.enter_context(servers.orthanc())
            chosen.append(server)
        chosen += servers_from_args(args.server, args.header)
        if not chosen:
            parser.error("no server: --server NAME URL, --local-stack or --orthanc")
        results = run(
            chosen,
            data,
            rounds=args.rounds,
            per_round=args.per_round,
            concurrency=args.concurrency,
            throughput_clients=args.throughput_clients,
        )
    results["about"] = about
    results["emulator_ms"] = emulator
    results["health_ms"] = floor
    results["total_s"] = time.monotonic() - started
    results["load_before"], results["load_after"] = load_before, round(os.getloadavg()[0], 2)
    summary = report.summarise(results)
    print(report.markdown(summary))
    if args.out:
        report.write(summary, args.out)
        print(f"wrote {args.out}/orthanc.md, orthanc.json, orthanc.png")


if __name__ == "__main__":
    main()
