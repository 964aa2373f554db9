"""Build the deployable template offline: ``python -m infra.build [--stage prod] [--out DIR]``.

1. ``infra/template.py`` -> ``<out>/resources.json`` (the resources Chalice does not generate);
2. ``chalice package --merge-template <out>/resources.json`` -> ``<out>/sam.json`` and
   ``<out>/deployment.zip`` (Chalice downloads Lambda-compatible wheels from PyPI once; the
   zip is cached in ``.chalice/deployments`` by the hash of requirements.txt);
3. fails if any runtime dependency is missing from the zip: ``chalice package`` prints "Could
   not install dependencies" and still exits 0 when it cannot match a wheel to the runtime's
   glibc;
4. one fix-up Chalice's merge cannot do: the SQS event source names its queue by an ARN Chalice
   builds from a name, which CloudFormation cannot order after the queue's creation; it is
   replaced by ``Fn::GetAtt IndexQueue.Arn``;
5. the pixel split (``chalicelib/routes/placement.py``; the routes declared ``pixels=True``,
   ``chalicelib/routes/table.serves_pixels``): numpy, Pillow and the codecs move from
   ``deployment.zip`` to ``pixels-layer.zip``; the pixel function is Chalice's API function plus
   that layer, and API Gateway sends it the routes that may decode pixel data. The store
   function (the routes declared ``writes=True``: STOW through the API, DELETE) is the API
   function's code with the one HTTP role that writes the catalog.
   The API and indexer functions then import pydicom without numpy: about half their cold
   start (``bench/coldstart.py``);
6. botocore's data is pruned to the services the functions use (``prune_sdk_data``,
   ``chalicelib/storage/clients.SERVICES``): its loader walks every folder shipped when a
   first client is created;
7. both zips get their modules' bytecode (``__pycache__/*.cpython-311.pyc``, unchecked-hash
   so an archive's timestamps do not matter): ``/var/task`` and ``/opt`` are read-only in
   Lambda, so without it every cold start compiles every module it imports from source;
8. ``receiver.zip``, the streaming STOW receiver's code (``infra/receiver.py`` runs it on a
   stock Python image): the lean ``deployment.zip`` (the same code and wheels as the API
   function), the ``receiver`` package, and the receiver's own dependencies pinned in
   requirements-receiver.txt (uvicorn, h11, click: pure Python, so they are taken as installed
   in this virtualenv, offline; the build fails on another version or a compiled module).
"""

from __future__ import annotations

import argparse
import csv
import importlib.metadata
import importlib.util
import io
import json
import os
import py_compile
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from chalicelib.routes.placement import PIXEL_DISTRIBUTIONS
from chalicelib.routes.table import serves_pixels, writes_catalog
from chalicelib.storage import clients
from infra import receiver, template

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "infra"


class BuildError(Exception):
    pass


def requirements(path: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """Pinned requirements of ``path``: normalized name -> version (``-r`` includes are not
    followed: each file's own pins)."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if not m:
            raise BuildError(f"{path.name}: not pinned: {line!r}")
        pins[normalize(m.group(1))] = m.group(3)
    return pins


def receiver_requirements(path: Path = ROOT / "requirements-receiver.txt") -> dict[str, str]:
    """The receiver's pins beyond requirements.txt (which it includes with ``-r``)."""
    return requirements(path)


def receiver_package(package: Path, out: Path) -> Path:
    """``out``: the lean package ``package``, the ``receiver`` sources and the receiver's own
    pure-Python dependencies as installed here (version-checked, no compiled modules)."""
    with zipfile.ZipFile(package) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            dst.writestr(info, src.read(info))
        for source in sorted((ROOT / "receiver").rglob("*.py")):
            dst.write(source, source.relative_to(ROOT).as_posix())
        for name, version in receiver_requirements().items():
            dist = importlib.metadata.distribution(name)
            if dist.version != version:
                raise BuildError(f"{name}: {dist.version} installed, {version} pinned")
            for file in dist.files or []:
                arcname = file.as_posix()
                if arcname.startswith("..") or "__pycache__" in arcname:
                    continue  # console scripts; bytecode is compiled below for the zip
                if file.suffix in (".so", ".pyd"):
                    raise BuildError(f"{name} is not pure Python ({arcname}): build its wheel")
                dst.write(Path(str(file.locate())), arcname)
    with_bytecode(out)
    return out


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def packaged(zip_path: Path) -> dict[str, str]:
    """Distributions in the deployment zip (from their .dist-info directories)."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            top = name.split("/", 1)[0]
            if top.endswith(".dist-info"):
                dist, _, version = top[: -len(".dist-info")].rpartition("-")
                found[normalize(dist)] = version
    return found


def missing_dependencies(zip_path: Path, *more: Path) -> list[str]:
    """Pins not matched by the distributions packaged in ``zip_path`` and ``more`` zips (a
    layer's ``python/`` prefix is ignored)."""
    have = packaged(zip_path)
    for other in more:
        have.update(packaged_layer(other))
    return [
        f"{name}=={version} (packaged: {have.get(name, 'none')})"
        for name, version in requirements().items()
        if have.get(name) != version
    ]


def packaged_layer(zip_path: Path) -> dict[str, str]:
    """Distributions in a Python layer zip (under ``python/``)."""
    found: dict[str, str] = {}
    with zipfile.ZipFile(zip_path) as z:
        for name in z.namelist():
            parts = name.split("/")
            if len(parts) > 2 and parts[0] == "python" and parts[1].endswith(".dist-info"):
                dist, _, version = parts[1][: -len(".dist-info")].rpartition("-")
                found[normalize(dist)] = version
    return found


def split_pixels(package: Path, layer: Path) -> tuple[int, int]:
    """Move the files of ``PIXEL_DISTRIBUTIONS`` (by their dist-info RECORD) from ``package``
    into the layer zip ``layer`` under ``python/``. Returns the two zips' sizes."""
    with zipfile.ZipFile(package) as z:
        names = z.namelist()
        moved: set[str] = set()
        for name in names:
            top, _, rest = name.partition("/")
            if rest != "RECORD" or not top.endswith(".dist-info"):
                continue
            dist = normalize(top[: -len(".dist-info")].rpartition("-")[0])
            if dist in PIXEL_DISTRIBUTIONS:
                record = csv.reader(io.StringIO(z.read(name).decode()))
                moved.update(row[0] for row in record if row)
        found = {
            normalize(n.split("/", 1)[0][: -len(".dist-info")].rpartition("-")[0])
            for n in moved
            if n.split("/", 1)[0].endswith(".dist-info")
        }
        if found != set(PIXEL_DISTRIBUTIONS):
            raise BuildError(
                f"pixel distributions not in the package: {PIXEL_DISTRIBUTIONS - found}"
            )
        lean = package.with_suffix(".lean.zip")
        with (
            zipfile.ZipFile(lean, "w", zipfile.ZIP_DEFLATED) as keep,
            zipfile.ZipFile(layer, "w", zipfile.ZIP_DEFLATED) as pixels,
        ):
            for info in z.infolist():
                data = z.read(info)
                if info.filename in moved:
                    info.filename = f"python/{info.filename}"
                    pixels.writestr(info, data)
                else:
                    keep.writestr(info, data)
    lean.replace(package)
    return package.stat().st_size, layer.stat().st_size


def prune_sdk_data(zip_path: Path, keep: Iterable[str]) -> int:
    """Drop botocore's data for every service but ``keep`` (``storage.clients.SERVICES``) from
    the zip; the shared files at the data folder's root (endpoints, partitions, retry and
    default configurations) stay. Returns the bytes removed (uncompressed).

    botocore's loader lists and stats every service folder it ships (over 400) to check a
    service exists when a client is created: 0.1 s of the 0.2 s that creating a first request's
    DynamoDB and S3 clients took (``make bench-coldstart``); the package shrinks too."""
    kept = set(keep)
    removed = 0
    out = zip_path.with_suffix(".sdk.zip")
    with zipfile.ZipFile(zip_path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            parts = info.filename.split("/")
            if parts[:2] == ["botocore", "data"] and len(parts) > 3 and parts[2] not in kept:
                removed += info.file_size
                continue
            dst.writestr(info, src.read(info))
    found = {
        n.split("/")[2]
        for n in zipfile.ZipFile(out).namelist()
        if n.startswith("botocore/data/") and n.count("/") > 2
    }
    if found != kept:
        raise BuildError(f"botocore data kept {sorted(found)}, expected {sorted(kept)}")
    out.replace(zip_path)
    return removed


LAMBDA_PYTHON = (3, 11)  # the functions' runtime (python3.11): bytecode is version-specific


def with_bytecode(zip_path: Path) -> int:
    """Add ``__pycache__/<name>.cpython-311.pyc`` beside every ``.py`` of the zip; returns the
    number compiled. Skipped (0) unless this interpreter is the runtime's version."""
    if sys.version_info[:2] != LAMBDA_PYTHON:
        print(f"infra build: not Python {LAMBDA_PYTHON}: {zip_path.name} ships without bytecode")
        return 0
    compiled = 0
    out = zip_path.with_suffix(".pyc.zip")
    with (
        zipfile.ZipFile(zip_path) as src,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst,
        tempfile.TemporaryDirectory() as tmp,
    ):
        shipped = set(src.namelist())  # some wheels carry a few .pyc of their own
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info, data)
            if not info.filename.endswith(".py") or "__pycache__" in info.filename:
                continue
            folder, _, name = info.filename.rpartition("/")
            cached = importlib.util.cache_from_source(name)  # __pycache__/name.cpython-311.pyc
            if (f"{folder}/{cached}" if folder else cached) in shipped:
                continue
            source = Path(tmp, "m.py")
            source.write_bytes(data)
            target = Path(tmp, "m.pyc")
            try:
                py_compile.compile(
                    str(source),
                    cfile=str(target),
                    dfile=info.filename,
                    doraise=True,
                    invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
                )
            except py_compile.PyCompileError:
                continue  # e.g. a test file written for another Python: never imported
            dst.writestr(f"{folder}/{cached}" if folder else cached, target.read_bytes())
            compiled += 1
    out.replace(zip_path)
    return compiled


def route_to(sam: dict[str, Any], function: str, serves: Callable[[str, str], bool]) -> list[str]:
    """API Gateway's integrations of the routes ``serves(path, method)`` pointed at
    ``function`` instead of Chalice's API function. Returns the routes moved (``METHOD path``)."""
    api_uri = "${" + template.API_FUNCTION + ".Arn}"
    moved = []
    paths = sam["Resources"]["RestAPI"]["Properties"]["DefinitionBody"]["paths"]
    for path, methods in paths.items():
        for method, operation in methods.items():
            if not serves(path, method):
                continue
            integration = operation["x-amazon-apigateway-integration"]
            uri = integration["uri"]["Fn::Sub"]
            if api_uri not in uri:
                raise BuildError(f"{method} {path}: not integrated with {template.API_FUNCTION}")
            integration["uri"] = {"Fn::Sub": uri.replace(api_uri, "${" + function + ".Arn}")}
            moved.append(f"{method.upper()} {path}")
    if not moved:
        raise BuildError(f"no route of chalicelib.routes.table is served by {function}")
    return moved


def add_functions(sam: dict[str, Any]) -> None:
    """The pixel function (routes that may decode pixel data) and the store function (routes
    that write the catalog), copies of Chalice's API function, each sent its routes."""
    resources = sam["Resources"]
    api = resources[template.API_FUNCTION]
    resources[template.PIXEL_FUNCTION] = template.pixel_function(api)
    resources[template.STORE_FUNCTION] = template.store_function(api)
    route_to(sam, template.PIXEL_FUNCTION, serves_pixels)
    route_to(sam, template.STORE_FUNCTION, writes_catalog)


def fix_event_source(sam: dict[str, Any]) -> None:
    function = sam["Resources"][template.INDEX_FUNCTION]
    source = function["Properties"]["Events"][template.INDEX_EVENT_SOURCE]["Properties"]
    source["Queue"] = template.att("IndexQueue", "Arn")


def build(stage: str = "prod", out: Path = DEFAULT_OUT) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    merge = out / "resources.json"
    merge.write_text(json.dumps(template.merge_template(), indent=2))
    package_dir = out / "package"
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).parent / "chalice"
    run = subprocess.run(
        [
            str(chalice),
            "package",
            "--stage",
            stage,
            "--merge-template",
            str(merge),
            str(package_dir),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    output = run.stdout + run.stderr
    if run.returncode != 0 or "Could not install dependencies" in output:
        raise BuildError(f"chalice package failed:\n{output}")
    zip_path, layer_path = package_dir / "deployment.zip", package_dir / template.PIXEL_LAYER_ZIP
    split_pixels(zip_path, layer_path)
    prune_sdk_data(zip_path, clients.SERVICES)
    with_bytecode(zip_path)
    with_bytecode(layer_path)
    missing = missing_dependencies(zip_path, layer_path)
    if missing:
        raise BuildError("runtime dependencies missing from the package: " + ", ".join(missing))
    sam = json.loads((package_dir / "sam.json").read_text())
    fix_event_source(sam)
    add_functions(sam)
    receiver_zip = receiver_package(zip_path, package_dir / receiver.CODE_ZIP)
    target = out / "sam.json"
    target.write_text(json.dumps(sam, indent=2))
    for built in (zip_path, layer_path, receiver_zip):
        (out / built.name).unlink(missing_ok=True)
        built.rename(out / built.name)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stage", default="prod")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    try:
        path = build(args.stage, args.out)
    except BuildError as exc:
        print(f"infra build: {exc}", file=sys.stderr)
        return 1
    size = (args.out / "deployment.zip").stat().st_size
    layer = (args.out / template.PIXEL_LAYER_ZIP).stat().st_size
    code = (args.out / receiver.CODE_ZIP).stat().st_size
    print(
        f"infra build: {path}, deployment.zip ({size / 1e6:.1f} MB), "
        f"{template.PIXEL_LAYER_ZIP} ({layer / 1e6:.1f} MB) and {receiver.CODE_ZIP} "
        f"({code / 1e6:.1f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
