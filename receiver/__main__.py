"""``python -m receiver [--host H] [--port P]``: the streaming STOW receiver under uvicorn.

The container's command in AWS (ECS on Fargate, infra/) and a process under ``make serve``.
Settings come from the environment, as the Lambda functions' do (chalicelib/config.py).
"""

from __future__ import annotations

import argparse
import os

import uvicorn

from chalicelib.config import Settings
from chalicelib.routes.deps import Deps
from receiver.app import Receiver, uvicorn_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    args = parser.parse_args()
    app = Receiver(Deps(Settings.from_env()))
    uvicorn.Server(uvicorn_config(app, host=args.host, port=args.port)).run()


if __name__ == "__main__":
    main()
