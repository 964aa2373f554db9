"""moto inside the local stack's own process: the SDK calls of the app and the receiver reach
it through ``mock_aws`` (botocore's request handed to moto's handler, no socket, no HTTP
server), and moto's own server application answers the same backends on a loopback port, in a
thread, for the processes that need an endpoint (the indexer, the admin CLI, tests that look
inside). One store, two doors: what one writes the other reads.

Every call still goes through botocore (parameters validated, request serialised and signed,
answer parsed, errors raised as in AWS) and through moto's request handling (its validation and
its AWS errors), with ``moto_patches`` and ``moto_fast`` (DynamoDB's answers written
directly) applied: only the loopback HTTP hop and moto's server thread per connection are gone
(measured in docs/benchmarks/orthanc.md).
"""

from __future__ import annotations

import logging
from typing import Any

from moto import mock_aws
from moto.server import ThreadedMotoServer

from local.moto_fast import make_answers_cheap, make_routes_kept
from local.moto_patches import make_emulator_safe


class InProcessMoto:
    """``mock_aws`` started for the process, and moto's server on ``port`` (127.0.0.1)."""

    def __init__(self, port: int) -> None:
        make_emulator_safe()
        make_answers_cheap()
        make_routes_kept()  # this process's environment is fixed from now on
        self._mock: Any = mock_aws()
        self._mock.start()
        # werkzeug logs every request at INFO: a line a second from the indexer's polls
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self.url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self._server.stop()
        self._mock.stop()
