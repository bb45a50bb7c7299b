"""Answers with a stored file, its ETag and, for a client that accepts gzip, the gzipped twin
written beside it when it was stored (annotator/precompressed.py): the bytes on the wire shrink
without the web process compressing anything per request."""

from __future__ import annotations

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, HttpResponse, HttpResponseBase
from rest_framework.request import Request

from annotator import precompressed


def precompressed_response(
    request: Request, file: FieldFile, *, etag: str, headers: dict[str, str]
) -> HttpResponseBase:
    """200 with the file (gzipped where the client takes it and a twin exists), or 304 when
    If-None-Match names the variant the client would get."""
    storage = file.storage
    packed = precompressed.gzip_name(file.name)
    gzipped = precompressed.accepts_gzip(request) and storage.exists(packed)
    # Each encoding its own ETag: a cache must not answer a gzip request with plain bytes.
    tag = f'{etag[:-1]}-gzip"' if gzipped else etag
    headers = {**headers, "ETag": tag, "Vary": "Accept-Encoding"}
    if request.headers.get("If-None-Match") == tag:
        return HttpResponse(status=304, headers=headers)
    if gzipped:
        response = FileResponse(storage.open(packed, "rb"), content_type="application/octet-stream")
        response["Content-Encoding"] = "gzip"
        # fetch() hands the page decoded bytes; this is their count, for its progress bar.
        response["X-Decoded-Length"] = str(file.size)
    else:
        response = FileResponse(file.open("rb"), content_type="application/octet-stream")
    for key, value in headers.items():
        response[key] = value
    return response
