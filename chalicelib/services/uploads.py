"""Large STOW through presigned S3 uploads (non-standard; the answer to a 413).

A write-scoped caller asks ``POST /uploads`` for upload URLs: one presigned PUT per file, or an
S3 multipart upload (presigned part URLs, then ``POST /uploads/{id}/files/{n}/complete``) for
files above the threshold. Files land under ``import/{tenant}/uploads/{id}/``, where the usual
S3 event imports and indexes them exactly like a file dropped into the bucket; the indexer
leaves a result marker per file, and ``GET /uploads/{id}`` reports them like a STOW response.
URLs expire within 5 minutes (an upload started before expiry completes) and only ever name
the caller's tenant's keys. The manifest and the markers live in S3: no other state.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from pydicom.dataset import Dataset

from chalicelib.config import Settings
from chalicelib.dicomweb.errors import BadRequest, FailureReason, NotFound
from chalicelib.dicomweb.media import APPLICATION_DICOM, JSON
from chalicelib.services.answers import Body, json_body
from chalicelib.services.ports import (
    JsonDict,
    ObjectStore,
    UploadNotFound,
    UploadPartsRefused,
    UploadStore,
)
from chalicelib.storage import keys

MAX_FILES = 1000
#: S3's part numbers of one multipart upload.
MAX_PARTS = 10_000
#: The largest file an upload takes (the STOW receiver's request bound, too).
MAX_FILE_BYTES = 4 * 1024**3
#: Part URLs one ``POST /uploads`` answers with, all files together (64 MiB parts: 64 GiB);
#: each is a signature to compute and ~450 bytes of answer.
MAX_PART_URLS = 1000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: An ETag S3 answered for a part: a quoted hex digest, printable ASCII.
ETAG_PATTERN = re.compile(r"[\x21-\x7e]{1,128}")


def _checked_sizes(files: list[Any], threshold: int, part: int) -> list[int | None]:
    """Each file's declared size, checked: names, sizes, the per-file and per-request bounds
    (400 InvalidUpload, before any AWS call)."""
    sizes: list[int | None] = []
    for spec in files:
        if not isinstance(spec, dict) or not isinstance(spec.get("name", ""), str):
            raise BadRequest("each file needs a name", code="InvalidUpload")
        size = spec.get("size")
        if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 0):
            raise BadRequest("size must be a number of bytes", code="InvalidUpload")
        if size is not None and size > MAX_FILE_BYTES:
            raise BadRequest(
                f"a file of {size} bytes is over the {MAX_FILE_BYTES}-byte limit",
                code="InvalidUpload",
            )
        sizes.append(size)
    urls = sum(-(-s // part) for s in sizes if s is not None and s > threshold)
    if urls > MAX_PART_URLS:
        raise BadRequest(
            f"these files need {urls} part URLs, over {MAX_PART_URLS} a request: "
            "send them in several uploads",
            code="InvalidUpload",
        )
    return sizes


def _safe(name: str) -> str:
    return _UNSAFE.sub("_", name.rsplit("/", 1)[-1])[:120] or "file.dcm"


class Uploads:
    def __init__(self, store: UploadStore, settings: Settings) -> None:
        self._store = store
        self._settings = settings

    def start_upload(self, tenant: str, request: Any, base_url: str) -> Body:
        """Upload URLs for the files ``request`` names (``{"files": [{"name", "size"}]}``):
        201, the status URL in ``Location``."""
        files = request.get("files") if isinstance(request, dict) else None
        if not isinstance(files, list) or not 1 <= len(files) <= MAX_FILES:
            raise BadRequest(
                f'the body must be {{"files": [{{"name": ..., "size": ...}}, ...]}} '
                f"with 1 to {MAX_FILES} files",
                code="InvalidUpload",
            )
        sizes = _checked_sizes(
            files, self._settings.multipart_threshold, self._settings.upload_part_size
        )
        # every refusal above comes before the first AWS call (a presign is local; starting a
        # multipart upload is not): a refused request leaves nothing open in S3
        upload_id = secrets.token_hex(12)
        manifest: list[JsonDict] = []
        answer: list[JsonDict] = []
        for index, (spec, size) in enumerate(zip(files, sizes, strict=True)):
            key = keys.upload_file_key(tenant, upload_id, index, _safe(spec.get("name", "")))
            entry: JsonDict = {"index": index, "name": spec.get("name", ""), "key": key}
            if size is not None:
                entry["size"] = size  # the import refuses a file of another size
            shown: JsonDict = {"index": index, "name": entry["name"]}
            if size is not None and size > self._settings.multipart_threshold:
                complete = f"{base_url}/uploads/{upload_id}/files/{index}/complete"
                shown["multipart"] = self._multipart(entry, size, complete)
            else:
                shown["url"] = self._store.presign_put(
                    key, self._settings.presign_expiry, APPLICATION_DICOM
                )
                shown["method"] = "PUT"
                shown["headers"] = {"Content-Type": APPLICATION_DICOM}
            manifest.append(entry)
            answer.append(shown)
        self._store.put(
            keys.upload_manifest_key(tenant, upload_id),
            json.dumps({"files": manifest}).encode(),
            "application/json",
        )
        status = f"{base_url}/uploads/{upload_id}"
        started = {
            "upload": upload_id,
            "status": status,
            "expiresIn": self._settings.presign_expiry,
            "files": answer,
        }
        return json_body(started, JSON, status=201, headers={"Location": status})

    def _multipart(self, entry: JsonDict, size: int, complete: str) -> JsonDict:
        """Start an S3 multipart upload for the file (its id kept in the manifest ``entry``)
        and presign a URL per part."""
        part = self._settings.upload_part_size
        count = -(-size // part)
        key, expires = entry["key"], self._settings.presign_expiry
        entry["multipartUploadId"] = self._store.start_multipart(key, APPLICATION_DICOM)
        return {
            "partSize": part,
            "parts": [
                {
                    "partNumber": n,
                    "url": self._store.presign_part(key, entry["multipartUploadId"], n, expires),
                }
                for n in range(1, count + 1)
            ],
            "complete": complete,
        }

    def _manifest(self, tenant: str, upload_id: str) -> list[JsonDict]:
        if not re.fullmatch(r"[0-9a-f]{24}", upload_id):
            raise NotFound("upload not found")
        raw = self._store.get(keys.upload_manifest_key(tenant, upload_id))
        if raw is None:
            raise NotFound("upload not found")
        files: list[JsonDict] = json.loads(raw)["files"]
        return files

    def complete_file(self, tenant: str, upload_id: str, index: str, request: Any) -> Body:
        """Complete the multipart upload of file ``index`` with the parts ``request`` lists
        (``{"parts": [{"partNumber", "etag"}]}``)."""
        if not re.fullmatch(r"[0-9]{1,4}", index):  # ASCII only: isdecimal takes any script
            raise BadRequest("file index must be a number", code="InvalidUpload")
        number = int(index)
        files = self._manifest(tenant, upload_id)
        if not 0 <= number < len(files) or "multipartUploadId" not in files[number]:
            raise NotFound("no multipart upload for that file")
        parts = request.get("parts") if isinstance(request, dict) else None
        try:
            pairs = [(int(p["partNumber"]), str(p["etag"])) for p in parts or []]
        except (KeyError, TypeError, ValueError) as exc:
            raise BadRequest(
                'parts must be [{"partNumber": n, "etag": "..."}]', code="InvalidUpload"
            ) from exc
        if not pairs:
            raise BadRequest("no parts given", code="InvalidUpload")
        if any(not 1 <= n <= MAX_PARTS or not ETAG_PATTERN.fullmatch(etag) for n, etag in pairs):
            raise BadRequest(
                f"partNumber is 1 to {MAX_PARTS}, etag the ETag S3 answered for the part",
                code="InvalidUpload",
            )
        entry = files[number]
        try:
            self._store.complete_multipart(entry["key"], entry["multipartUploadId"], sorted(pairs))
        except UploadPartsRefused as exc:  # a 500 before (found by the schemathesis run)
            raise BadRequest(f"S3 refused the parts: {exc.code}", code="InvalidUpload") from exc
        except UploadNotFound as exc:
            raise NotFound("the multipart upload is completed, aborted or expired") from exc
        return json_body({"completed": True}, JSON)

    def upload_status(self, tenant: str, upload_id: str, base_url: str) -> Body:
        """What became of each file, like a STOW response: 200 when every file is imported or
        rejected, 202 while some are pending."""
        files = self._manifest(tenant, upload_id)
        prefix = keys.upload_results_prefix(tenant, upload_id)
        # one outcome a file, its newest: a presigned URL used twice (or a redelivered import)
        # leaves a second marker, which must not count as a second file (issue 23)
        latest: dict[int, tuple[str, str]] = {}
        for listed in self._store.list_all(prefix):
            index_text = listed.key[len(prefix) :].split("/", 1)[0]
            if not index_text.isascii() or not index_text.isdigit():
                continue
            number = int(index_text)
            if 0 <= number < len(files) and (
                number not in latest or listed.last_modified >= latest[number][0]
            ):
                latest[number] = (listed.last_modified, listed.key[len(prefix) :])
        markers = [marker for _, marker in latest.values()]
        stored, failed, done = [], [], set()
        for marker in markers:
            index, outcome, *rest = marker.split("/")
            done.add(int(index))
            if outcome == "stored" and len(rest) == 4:
                sop_class, study, series, sop = rest
                item = Dataset()
                item.ReferencedSOPClassUID = sop_class
                item.ReferencedSOPInstanceUID = sop
                item.RetrieveURL = f"{base_url}/studies/{study}/series/{series}/instances/{sop}"
                stored.append(item)
            elif outcome == "failed" and rest:
                item = Dataset()
                item.FailureReason = int(rest[0], 16)
                failed.append(item)
        response = Dataset()
        if stored:
            response.ReferencedSOPSequence = stored
        if failed:
            response.FailedSOPSequence = failed
        pending = len(files) - len(done)
        report = {
            "upload": upload_id,
            "files": len(files),
            "stored": len(stored),
            "failed": len(failed),
            "pending": pending,
            "response": response.to_json_dict(),
        }
        return json_body(report, JSON, status=200 if pending == 0 else 202)


def declared_size(store: ObjectStore, tenant: str, upload_id: str, index: int) -> int | None:
    """The size ``POST /uploads`` was told for file ``index`` (None: not declared, or no such
    upload): a presigned PUT cannot bind it, so the import checks it."""
    raw = store.get(keys.upload_manifest_key(tenant, upload_id))
    if raw is None:
        return None
    for entry in json.loads(raw).get("files", []):
        if entry.get("index") == index and isinstance(entry.get("size"), int):
            return int(entry["size"])
    return None


def result_marker(
    tenant: str,
    upload_id: str,
    index: int,
    stored: tuple[str, str, str, str] | None,
    reason: FailureReason | int | None = None,
) -> str:
    """The marker the indexer leaves for an uploaded file: stored (its UIDs) or failed."""
    if stored is not None:
        outcome = "stored/" + "/".join(stored)
    else:
        outcome = f"failed/{int(reason or FailureReason.PROCESSING_FAILURE):04X}"
    return keys.upload_result_key(tenant, upload_id, index, outcome)
