"""The people's CLI (``python -m chalicelib.cli upload|search|retrieve``): a DICOMweb client of
this service over HTTP. Its libraries (requests, rich) are development dependencies, imported
only here, so they never enter the Lambda package's requirements."""
