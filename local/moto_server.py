"""The local stack's moto server: moto's own server with ``moto_patches`` applied."""

from __future__ import annotations

import sys

from local.moto_patches import make_emulator_safe


def main() -> None:
    make_emulator_safe()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
