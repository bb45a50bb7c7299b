"""Known SAM 2 / 2.1 checkpoint files, and the one place this package touches SAM 1's file code.

The table names Meta's official files and Ultralytics' aliases of the 2.1 ones. A known name
resolves to the file in the cache directory, downloaded on first use with SAM 1's machinery
(`annotator.sam.checkpoints.resolve_row`: progress bar, a temporary file renamed into place only
once its sha256 matches, the offline message naming the URL and the target path).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# Reading files is shared with SAM 1: `torch.load(weights_only=True)`, `{"model": ...}`
# unwrapping, and clear `CheckpointError`s (a ValueError) for truncated or hostile files.
from annotator.sam.checkpoints import (
    CheckpointError,
    CheckpointUnavailable,
    cache_dir,
    load_state_dict,
    official,
    resolve_row,
)

__all__ = [
    "SAM2_CHECKPOINTS",
    "CheckpointError",
    "CheckpointUnavailable",
    "Sam2Checkpoint",
    "is_sam2_name",
    "load_state_dict",
    "resolve_sam2_checkpoint",
]

META_21 = "https://dl.fbaipublicfiles.com/segment_anything_2/092824/"
META_20 = "https://dl.fbaipublicfiles.com/segment_anything_2/072824/"
# Ultralytics hosts its aliases as release assets of ultralytics/assets (the v8.3.0 tag its
# downloader uses for the SAM 2.1 files; neither the tag nor the files' layout could be checked
# from here). Its SAM 2 port uses Meta's module names; the builder loads strictly, so a file in
# another layout is a clear error, never a silent misload.
ULTRALYTICS = "https://github.com/ultralytics/assets/releases/download/v8.3.0/"


@dataclass(frozen=True)
class Sam2Checkpoint:
    """One known file.

    Arguments:
      filename: the name the file is published and cached under.
      url: where to download it.
      size: the `build.MODEL_REGISTRY` architecture it holds.
      version: "2.1" or "2.0" (the builder also tells them apart by their keys).
      family: who publishes it ("meta" or "ultralytics").
      alias_of: for an alias, the Meta file it repackages.
      sha256 / num_bytes: the expected file, where known (see `_META_21_DIGESTS`).
    """

    filename: str
    url: str
    size: str
    version: str
    family: str
    alias_of: str | None = None
    sha256: str | None = None
    num_bytes: int | None = None


# Meta publishes no checksums. These are the Git LFS digests of the same files re-hosted on
# Hugging Face (camenduru/sam2-1-hiera; Promethe-us/sam2 agrees for tiny and base_plus), not
# checked against dl.fbaipublicfiles.com from here (no network): a download that disagrees
# should be reported, not silently accepted.
_META_21_DIGESTS = {
    "tiny": ("7402e0d864fa82708a20fbd15bc84245c2f26dff0eb43a4b5b93452deb34be69", 156008466),
    "small": ("6d1aa6f30de5c92224f8172114de081d104bbd23dd9dc5c58996f0cad5dc4d38", 184416285),
    "base_plus": ("a2345aede8715ab1d5d31b4a509fb160c5a4af1970f199d9054ccfb746c004c5", 323606802),
    "large": ("2647878d5dfa5098f2f8649825738a9345572bae2d4350a2468587ece47dd318", 898083611),
}


def _meta(size: str, version: str) -> Sam2Checkpoint:
    prefix, base = ("sam2.1", META_21) if version == "2.1" else ("sam2", META_20)
    filename = f"{prefix}_hiera_{size}.pt"
    sha256, num_bytes = _META_21_DIGESTS[size] if version == "2.1" else (None, None)
    return Sam2Checkpoint(
        filename, base + filename, size, version, "meta", sha256=sha256, num_bytes=num_bytes
    )


def _ultralytics(short: str, size: str) -> Sam2Checkpoint:
    filename = f"sam2.1_{short}.pt"
    return Sam2Checkpoint(
        filename, ULTRALYTICS + filename, size, "2.1", "ultralytics", f"sam2.1_hiera_{size}.pt"
    )


_SIZES = {"t": "tiny", "s": "small", "b": "base_plus", "l": "large"}

# SAM 2.0 files and Ultralytics' aliases carry no digest: none is published that we could cite.
SAM2_CHECKPOINTS: dict[str, Sam2Checkpoint] = {
    entry.filename: entry
    for entry in (
        *(_meta(size, "2.1") for size in _SIZES.values()),
        *(_meta(size, "2.0") for size in _SIZES.values()),
        *(_ultralytics(short, size) for short, size in _SIZES.items()),
    )
}


def is_sam2_name(name: str | os.PathLike[str]) -> bool:
    """Whether `name` is one of the known SAM 2 file names (not a path)."""
    return str(name) in SAM2_CHECKPOINTS


def _row(entry: Sam2Checkpoint) -> dict[str, object]:
    """The entry as a row of SAM 1's table, which the shared download code reads."""
    return official(f"sam2_{entry.size}", entry.url, sha256=entry.sha256)


def resolve_sam2_checkpoint(
    name_or_path: str | os.PathLike[str], *, download: bool = False
) -> Path:
    """Path of a SAM 2 checkpoint given a file path or a known file name.

    Arguments:
      name_or_path: an existing file, or a key of `SAM2_CHECKPOINTS` (looked up in the cache
        directory, `$SAM_CACHE_DIR` or `~/.cache/sam-annotator`).
      download: fetch a known file that is not cached, checked against its sha256. An
        Ultralytics alias (``sam2.1_b.pt``) stands for the Meta file it repackages: a file
        cached under the alias is used as is, otherwise Meta's file is resolved (and fetched
        from Meta, whose digests we have; Ultralytics' copies have none to check against).
    Returns:
      the path of an existing file.
    Raises:
      `CheckpointUnavailable` naming the URL and target path when the file is not there and
      cannot be (or may not be) downloaded.
    """
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    name = str(name_or_path)
    if name in SAM2_CHECKPOINTS:
        entry = SAM2_CHECKPOINTS[name]
        if entry.alias_of is not None:
            cached = cache_dir() / entry.filename
            if cached.is_file():
                return cached
            name, entry = entry.alias_of, SAM2_CHECKPOINTS[entry.alias_of]
        return resolve_row(name, _row(entry), download=download)
    known = ", ".join(sorted(SAM2_CHECKPOINTS))
    raise CheckpointUnavailable(
        f"checkpoint {str(path)!r} does not exist and is not a known SAM 2 name ({known})",
        path=path,
    )
