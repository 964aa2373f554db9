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
   replaced by ``Fn::GetAtt IndexQueue.Arn``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

from infra import template

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "infra"


class BuildError(Exception):
    pass


def requirements(path: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """Pinned runtime requirements: normalized name -> version."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(\[[^\]]*\])?==([^\s;]+)", line)
        if not m:
            raise BuildError(f"requirements.txt: not pinned: {line!r}")
        pins[normalize(m.group(1))] = m.group(3)
    return pins


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


def missing_dependencies(zip_path: Path) -> list[str]:
    have = packaged(zip_path)
    return [
        f"{name}=={version} (packaged: {have.get(name, 'none')})"
        for name, version in requirements().items()
        if have.get(name) != version
    ]


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
    missing = missing_dependencies(package_dir / "deployment.zip")
    if missing:
        raise BuildError("runtime dependencies missing from the package: " + ", ".join(missing))
    sam = json.loads((package_dir / "sam.json").read_text())
    fix_event_source(sam)
    target = out / "sam.json"
    target.write_text(json.dumps(sam, indent=2))
    (out / "deployment.zip").unlink(missing_ok=True)
    (package_dir / "deployment.zip").rename(out / "deployment.zip")
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
    print(f"infra build: {path} and deployment.zip ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
