"""The transfer syntaxes transcoding names as literals (chalicelib.services.transcode) are
pydicom's, and importing the module does not import pydicom."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydicom import uid

from chalicelib.services import transcode


def test_the_literal_syntaxes_are_pydicoms() -> None:
    assert uid.ExplicitVRLittleEndian == transcode.EXPLICIT_VR_LITTLE_ENDIAN
    assert uid.ImplicitVRLittleEndian == transcode.IMPLICIT_VR_LITTLE_ENDIAN
    assert uid.DeflatedExplicitVRLittleEndian == transcode.DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
    assert uid.RLELossless == transcode.RLE_LOSSLESS
    assert uid.JPEG2000Lossless == transcode.JPEG_2000_LOSSLESS
    assert all(uid.UID(ts).is_transfer_syntax for ts in transcode.TARGETS)


def test_negotiating_imports_no_pydicom() -> None:
    code = (
        "import sys\n"
        "from chalicelib.services.transcode import can_write\n"
        "assert can_write('1.2.840.10008.1.2.5')\n"
        "print('pydicom' in sys.modules)\n"
    )
    root = Path(__file__).resolve().parents[3]
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert run.stdout.split() == ["False"]
