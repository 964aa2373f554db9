"""routes/rendered.py: a rendered frame is one frame number in ASCII digits."""

from __future__ import annotations

import pytest

from chalicelib.dicomweb.errors import BadRequest
from chalicelib.routes.rendered import frame_number
from chalicelib.routes.route import Call


def call(frames: str) -> Call:
    return Call(None, {"frames": frames}, {}, {}, b"", "https://d.example", "d.example")


@pytest.mark.parametrize("frames", ["\u0661", "\uff11", "0", "1,2", "1" * 10, ""])
def test_a_frame_is_one_ascii_number_from_1(frames: str) -> None:
    with pytest.raises(BadRequest) as raised:
        frame_number(call(frames))
    assert raised.value.code == "InvalidFrameList"


def test_a_frame_number() -> None:
    assert frame_number(call("12")) == 12
