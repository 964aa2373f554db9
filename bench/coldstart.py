"""Cold start of the deployed functions, and the peak memory of a STOW at the payload limit.

    python -m bench.coldstart [--runs 9]          (make bench-coldstart)

1. Import time. The built packages (``infra/build.py``: ``deployment.zip`` and
   ``pixels-layer.zip``) are unpacked as Lambda lays them out (``/var/task``, ``/opt/python``)
   and each function's entry module (``app``, for all three) is imported in a fresh
   interpreter that sees nothing else (``python -S``), with Lambda's environment variables,
   ``-X importtime`` and the template's settings. This is the INIT phase a first user waits
   for, less the runtime's own start. Each function runs ``--runs`` times; the median and the
   minimum are reported, with the pixel modules it loaded. A variant without the bytecode the
   build adds shows what compiling from source costs (``/var/task`` is read-only in Lambda).
   With ``--instructions``, valgrind counts the instructions of the import (the pass mark:
   wall time moves with the machine) and of the import plus the AWS clients a first request
   creates (DynamoDB and S3: built on the first request, not at import, so the import alone
   leaves them out). The packages are rebuilt first when any source or pin is newer than
   them.
2. Peak memory of a STOW of one request at the Lambda payload limit: the lean function's code
   (the pixel modules unimportable, as in its package) handles one API Gateway event whose
   JSON is just under 6 MB, against a moto server in another process, so that moto's stored
   objects are not counted. It reports VmHWM (the peak RSS, what Lambda's "Max Memory Used"
   reports) after import, with the event in memory, and after the request.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from chalicelib.routes.placement import PIXEL_MODULES
from infra import build, template

ROOT = Path(__file__).resolve().parent.parent

PROBE = """
import sys, time
t = time.perf_counter()
import app
elapsed = time.perf_counter() - t
loaded = sorted({m.split(".")[0] for m in sys.modules} & set(sys.argv[1].split(",")))
print("PROBE", round(elapsed * 1000, 1), len(sys.modules), ",".join(loaded) or "-")
"""


def lambda_environment(function: str, task_root: Path, sam: dict) -> dict[str, str]:  # type: ignore[type-arg]
    """What Lambda sets, plus the function's variables from the template (intrinsic values
    replaced by placeholders: nothing is called at import)."""
    props = sam["Resources"][function]["Properties"]
    parameters = sam.get("Parameters", {})

    def value(name: str, v: object) -> str:
        if isinstance(v, str):
            return v
        if isinstance(v, dict) and v.get("Ref") in parameters:
            return str(parameters[v["Ref"]]["Default"])
        return f"placeholder-{name.lower()}"

    variables = {k: value(k, v) for k, v in props["Environment"]["Variables"].items()}
    return {
        "PATH": "/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.11",
        "AWS_LAMBDA_FUNCTION_NAME": f"dicomweb-bench-{function}",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(props["MemorySize"]),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_SESSION_TOKEN": "bench",
        "_HANDLER": props["Handler"],
        **variables,
    }


#: What the packages are built from: a change to any of them makes a built package stale.
SOURCES = ("app.py", "requirements.txt", "chalicelib", "infra", ".chalice")


def stale(zips: Path = build.DEFAULT_OUT, root: Path = ROOT) -> bool:
    """The built packages are missing or older than a source they are built from."""
    built = [zips / "sam.json", zips / "deployment.zip", zips / template.PIXEL_LAYER_ZIP]
    if not all(p.exists() for p in built):
        return True
    oldest = min(p.stat().st_mtime for p in built)
    for name in SOURCES:
        path = root / name
        files = path.rglob("*") if path.is_dir() else [path]
        if any(f.is_file() and f.stat().st_mtime > oldest for f in files):
            return True
    return False


def unpack(out: Path) -> tuple[Path, Path]:
    """deployment.zip -> out/task, pixels-layer.zip -> out/opt (its python/ inside)."""
    zips = build.DEFAULT_OUT
    if stale(zips):
        build.build()
    task, opt = out / "task", out / "opt"
    zipfile.ZipFile(zips / "deployment.zip").extractall(task)
    zipfile.ZipFile(zips / template.PIXEL_LAYER_ZIP).extractall(opt)
    return task, opt


def probe(args: list[str], cwd: Path, env: dict[str, str], marker: str, what: str) -> str:
    """Run ``python args... <pixel modules>`` and return its line starting with ``marker``
    (without it)."""
    run = subprocess.run(
        [sys.executable, *args, ",".join(sorted(PIXEL_MODULES))],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((x for x in run.stdout.splitlines() if x.startswith(marker)), None)
    if line is None:
        raise RuntimeError(f"{what} failed:\n{run.stderr[-2000:]}")
    return line.removeprefix(marker)


#: The clients a first request creates (no call is made: creating one is local work).
FIRST_CLIENTS = "import app; app.deps.clients.dynamodb; app.deps.clients.s3"


def import_instructions(
    paths: list[Path], env: dict[str, str], code: str = "import app"
) -> int | None:
    """Instructions executed by ``code`` (``import app``; valgrind's callgrind): unlike wall
    time, repeatable whatever else the machine runs. None when valgrind is not installed."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    env = {**env, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONDONTWRITEBYTECODE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        run = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                f"--callgrind-out-file={tmp}/out",
                *(sys.executable, "-S", "-c", code),
            ],
            cwd=paths[0],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
    found = re.search(r"Collected : (\d+)", run.stderr)
    return int(found.group(1)) if found else None


def import_times(
    function: str, paths: list[Path], env: dict[str, str], runs: int, bytecode: bool = True
) -> dict[str, object]:
    env = {**env, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONDONTWRITEBYTECODE": "1"}
    if not bytecode:  # look for bytecode in an empty folder: every module compiles from source
        env["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="no-pyc-")
    times, modules, loaded = [], 0, ""
    for _ in range(runs):
        line = probe(["-S", "-c", PROBE], paths[0], env, "PROBE ", f"{function}: import")
        ms, count, loaded = line.split()
        times.append(float(ms))
        modules = int(count)
    return {
        "function": function,
        "bytecode": bytecode,
        "median_ms": round(statistics.median(times), 1),
        "min_ms": min(times),
        "modules": modules,
        "pixel_modules": loaded,
    }


def import_cost_by_package(
    paths: list[Path], env: dict[str, str], runs: int = 3, n: int = 14
) -> list[tuple[str, float]]:
    """Where the import time goes: ``-X importtime``'s self time summed per top-level package
    (ms, the median of ``runs``). importtime's own overhead inflates the total a little."""
    env = {**env, "PYTHONPATH": os.pathsep.join(map(str, paths)), "PYTHONDONTWRITEBYTECODE": "1"}
    samples: dict[str, list[int]] = {}
    for _ in range(runs):
        run = subprocess.run(
            [sys.executable, "-S", "-X", "importtime", "-c", "import app"],
            cwd=paths[0],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        totals: dict[str, int] = {}
        for line in run.stderr.splitlines():
            if not line.startswith("import time:") or "cumulative" in line:
                continue
            self_us, _, name = line[len("import time:") :].split("|")
            package = name.strip().split(".")[0]
            if package.startswith("_") or package in sys.stdlib_module_names:
                package = "(standard library)"
            totals[package] = totals.get(package, 0) + int(self_us)
        for package, us in totals.items():
            samples.setdefault(package, []).append(us)
    cost = {p: statistics.median(v) / 1000 for p, v in samples.items()}
    ranked = sorted(cost.items(), key=lambda kv: -kv[1])
    return [(p, round(ms, 1)) for p, ms in ranked[:n]] + [("(total)", round(sum(cost.values()), 1))]


STOW_PROBE = """
import json, os, sys, time
for name in sys.argv[2].split(","):
    sys.modules[name] = None  # the lean package has none of these

def rss(field):
    for line in open("/proc/self/status"):
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0

import app
from chalicelib.storage.tenants import ALL_SCOPES
from local.bootstrap import create_resources
from local.lambda_runtime import LambdaContext
deps = app.deps
create_resources(deps.clients, deps.settings, visibility_timeout=30)
deps.tenants.create_tenant("bench")
KEY = "bench-key-" + "m" * 32
deps.tenants.create_key("bench", ALL_SCOPES, name="bench", api_key=KEY)
after_import = rss("VmRSS")
event = json.loads(open(sys.argv[1]).read())
event["headers"]["X-Api-Key"] = KEY
event["multiValueHeaders"]["X-Api-Key"] = [KEY]
with_event = rss("VmRSS")
open("/proc/self/clear_refs", "w").write("5")  # resets VmHWM, the peak, to the current RSS
t = time.perf_counter()
response = app.app(event, LambdaContext())
elapsed = time.perf_counter() - t
import base64
raw = response["body"]
body = json.loads(base64.b64decode(raw) if response.get("isBase64Encoded") else raw)
stored = len(body.get("00081199", {}).get("Value", []))
print("STOW", json.dumps({
    "status": response["statusCode"], "stored": stored, "seconds": round(elapsed, 2),
    "rss_after_import_mb": round(after_import, 1), "rss_with_event_mb": round(with_event, 1),
    "peak_rss_mb": round(rss("VmHWM"), 1),
    "pixel_modules": sorted({m.split(".")[0] for m, v in sys.modules.items() if v is not None}
                            & set(sys.argv[2].split(","))),
}))
"""


def stow_event(payload_limit: int) -> tuple[dict, int, int]:  # type: ignore[type-arg]
    """An API Gateway event for POST /studies whose JSON is just under ``payload_limit``:
    as many 512x512 CT instances as fit. Returns the event, instances and body bytes."""
    import base64

    from bench.datasets import Generator

    gen = Generator(seed=7)
    study, series = gen.uid(), gen.uid()
    boundary = "bench-boundary"
    parts: list[bytes] = []

    def body(items: list[bytes]) -> bytes:
        head = f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        return b"".join(head + p + b"\r\n" for p in items) + f"--{boundary}--\r\n".encode()

    while True:
        candidate = [*parts, gen.ct(study, series, len(parts) + 1)]
        if len(base64.b64encode(body(candidate))) + 4096 > payload_limit:
            break
        parts = candidate
    data = body(parts)
    content_type = f'multipart/related; type="application/dicom"; boundary={boundary}'
    headers = {"Content-Type": content_type, "Accept": "application/dicom+json", "Host": "bench"}
    event = {
        "resource": "/studies",
        "path": "/studies",
        "httpMethod": "POST",
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/studies",
            "httpMethod": "POST",
            "path": "/api/studies",
            "stage": "api",
            "domainName": "bench",
            "requestId": "bench-stow",
            "requestTimeEpoch": int(time.time() * 1000),
            "identity": {"sourceIp": "127.0.0.1"},
        },
        "body": base64.b64encode(data).decode("ascii"),
        "isBase64Encoded": True,
    }
    return event, len(parts), len(data)


def stow_peak_memory() -> dict[str, object]:
    from chalicelib.config import Settings
    from local.spawn import free_port
    from local.stack import local_environment, wait_http

    limit = Settings().payload_limit
    event, instances, body_bytes = stow_event(limit)
    port = free_port()
    moto = subprocess.Popen(
        [sys.executable, "-m", "local.moto_server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/moto-api/")
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp, "event.json")
            path.write_text(json.dumps(event))
            event_bytes = path.stat().st_size
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "POWER"))},
                **local_environment(port, Path(tmp)),
            }
            line = probe(["-c", STOW_PROBE, str(path)], ROOT, env, "STOW ", "STOW probe")
        result: dict[str, object] = json.loads(line)
        result.update(instances=instances, body_bytes=body_bytes, event_bytes=event_bytes)
        result["payload_limit"] = limit
        return result
    finally:
        moto.terminate()
        moto.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also count the instructions of each import with valgrind (about a minute each)",
    )
    args = parser.parse_args(argv)
    sam = (
        json.loads((build.DEFAULT_OUT / "sam.json").read_text())
        if (build.DEFAULT_OUT / "sam.json").exists()
        else json.loads(build.build().read_text())
    )
    results: dict[str, object] = {"python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        task, opt = unpack(Path(tmp))
        layer = opt / "python"
        functions = [
            ("API (and store, indexer: same package and module)", template.API_FUNCTION, [task]),
            ("pixel (package + layer)", template.PIXEL_FUNCTION, [task, layer]),
        ]
        rows = []
        for label, function, paths in functions:
            env = lambda_environment(function, task, sam)
            for bytecode in (True, False):
                got = import_times(label, paths, env, args.runs if bytecode else 3, bytecode)
                if bytecode and args.instructions:
                    got["instructions"] = import_instructions(paths, env)
                    got["instructions_with_clients"] = import_instructions(
                        paths, env, FIRST_CLIENTS
                    )
                rows.append(got)
        results["imports"] = rows
        results["api_import_by_package"] = import_cost_by_package(
            [task], lambda_environment(template.API_FUNCTION, task, sam)
        )
    results["stow_at_payload_limit"] = stow_peak_memory()

    print(f"Cold start: `import app` in a fresh python{results['python']} -S, Lambda's layout")
    print(
        "| function | bytecode | median ms | min ms | instructions (M) "
        "| + first clients (M) | modules | pixel modules loaded |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---|")

    def millions(count: object) -> str:
        return f"{count / 1e6:,.0f}" if isinstance(count, int) else "-"

    for r in rows:
        print(
            f"| {r['function']} | {'yes' if r['bytecode'] else 'no (compiled)'} "
            f"| {r['median_ms']} | {r['min_ms']} | {millions(r.get('instructions'))} "
            f"| {millions(r.get('instructions_with_clients'))} | {r['modules']} "
            f"| {r['pixel_modules']} |"
        )
    print("\nThe API function's import by package (self time, ms, under -X importtime):")
    print("| package | ms |\n|---|---:|")
    for name, ms in results["api_import_by_package"]:  # type: ignore[attr-defined]
        print(f"| {name} | {ms} |")
    stow = results["stow_at_payload_limit"]
    print(f"\nSTOW at the payload limit: {json.dumps(stow)}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
