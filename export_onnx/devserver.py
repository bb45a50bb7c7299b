"""A small static file server with the headers the decoder page needs, for tests and benchmarks.

onnxruntime-web only runs multi-threaded when the page is cross-origin isolated, which needs
``Cross-Origin-Opener-Policy: same-origin`` and ``Cross-Origin-Embedder-Policy: require-corp`` on
the document and on the worker script. Production serves the same headers from Django
(webapp/middleware.py); this server mounts folders under URL prefixes, e.g.
``{"/dist/": frontend/dist, "/export/": export_dir}``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

ISOLATION_HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "same-origin",
}


class _Handler(SimpleHTTPRequestHandler):
    extensions_map = {
        **SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".onnx": "application/octet-stream",
        ".json": "application/json",
    }

    def __init__(self, *args: Any, mounts: Mapping[str, Path], **kwargs: Any) -> None:
        self.mounts = mounts
        super().__init__(*args, **kwargs)

    def translate_path(self, path: str) -> str:
        url_path = unquote(urlsplit(path).path)
        # Longest prefix first, so "/dist/ort/" could override "/dist/".
        for prefix in sorted(self.mounts, key=len, reverse=True):
            if url_path.startswith(prefix):
                root = self.mounts[prefix].resolve()
                target = (root / url_path[len(prefix) :]).resolve()
                if root == target or root in target.parents:
                    return str(target)
        return str(Path("/nonexistent") / url_path.lstrip("/"))

    def end_headers(self) -> None:
        for name, value in ISOLATION_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output quiet


class DevServer:
    """Serve ``mounts`` (URL prefix -> folder) on 127.0.0.1 from a background thread.

    Use as a context manager; ``url`` is the base URL, e.g. ``http://127.0.0.1:54321``.
    """

    def __init__(self, mounts: Mapping[str, Path], port: int = 0) -> None:
        handler = partial(_Handler, mounts={k: Path(v) for k, v in mounts.items()})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> DevServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
