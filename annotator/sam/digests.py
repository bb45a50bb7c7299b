"""File digests, the one place they are computed: checkpoint identity (`checkpoints`), the
manifest of an ONNX export and its check on load (`export_onnx`).

Imports neither torch nor numpy, so the web process (`export_onnx.runtime`) can use it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_digest(path: str | os.PathLike[str], algorithm: str) -> str:
    """Hex digest of a file's bytes with a `hashlib` algorithm, read in 1 MiB chunks (checkpoints
    run to gigabytes)."""
    digest = hashlib.new(algorithm)
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file."""
    return file_digest(path, "sha256")


def md5_file(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file: the digest published for the official SAM checkpoints."""
    return file_digest(path, "md5")
