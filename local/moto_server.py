"""The local stack's moto server as its own process (``LOCAL_MOTO=process``): moto's own
server with ``moto_patches`` and ``moto_fast`` applied."""

from __future__ import annotations

import sys

from local.moto_fast import make_answers_cheap
from local.moto_patches import make_emulator_safe


def main() -> None:
    make_emulator_safe()
    make_answers_cheap()
    from moto.server import main as moto_main

    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()
