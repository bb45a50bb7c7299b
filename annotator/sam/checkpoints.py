"""Checkpoint files: the official ones by name, where they are cached, their download with an
integrity check, what to tell a user who is offline, and loading a file without running code.

`resolve_checkpoint("sam_vit_b")` finds the official file in the cache directory
(`SAM_CACHE_DIR`, default `~/.cache/sam-annotator`), downloading it once; `load_state_dict(path)`
reads any file with `torch.load(weights_only=True)`. torch is imported only there, so the table
and the cache paths are usable from a process that never loads a model.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .digests import md5_file, sha256_file

if TYPE_CHECKING:
    import torch

logger = logging.getLogger(__name__)

# The digests a table row may list; a download must match every one its row gives.
DIGESTS = ("md5", "sha256")


class CheckpointError(ValueError):
    """A checkpoint file exists but is not a loadable SAM state dict of the requested model."""


class CheckpointUnavailable(RuntimeError):
    """A checkpoint is missing and could not be downloaded; the message says what to fetch
    and where to put it."""

    def __init__(self, message: str, *, url: str | None = None, path: Path | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.path = path


def official(
    model_type: str,
    url: str,
    *,
    md5: str | None = None,
    sha256: str | None = None,
    mirrors: tuple[str, ...] = (),
) -> dict[str, Any]:
    """One row of `KNOWN_CHECKPOINTS`.

    Arguments:
      model_type: the architecture the file holds (a key of `build.MODEL_REGISTRY`).
      url: where it is published; its last path part is the cached file's name.
      md5, sha256: the published digests; a download must match each one given. A file
        published without any is accepted as served, with a warning.
      mirrors: further URLs of the same file, tried in order when `url` fails.
    """
    row: dict[str, Any] = {"url": url, "filename": url.rsplit("/", 1)[-1], "model_type": model_type}
    row |= {k: v for k, v in (("md5", md5), ("sha256", sha256)) if v is not None}
    return row | ({"mirrors": list(mirrors)} if mirrors else {})


_SAM = "https://dl.fbaipublicfiles.com/segment_anything/"
_MOBILE_SAM = "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt"
_MOBILE_SAM_MIRROR = "https://github.com/Sanster/models/releases/download/MobileSAM/mobile_sam.pt"

# Official checkpoints by name, one row each: a new model family adds its rows here and its
# architectures to `build.MODEL_REGISTRY`. Only md5 digests are published for these (the SAM file
# names carry their first six hex digits); the sha256 is computed and logged on download.
KNOWN_CHECKPOINTS: dict[str, dict[str, Any]] = {
    "sam_vit_b": official("vit_b", _SAM + "sam_vit_b_01ec64.pth", md5="01ec64d29a2fca3f0661936605ae66f8"),
    "sam_vit_l": official("vit_l", _SAM + "sam_vit_l_0b3195.pth", md5="0b3195507c641ddb6910d2bb5adee89c"),
    "sam_vit_h": official("vit_h", _SAM + "sam_vit_h_4b8939.pth", md5="4b8939a88964f0f4ff5f5b2642c598a6"),
    "mobile_sam": official(
        "mobile_sam", _MOBILE_SAM, md5="f3c0d8cda613564d499310dab6c812cd", mirrors=(_MOBILE_SAM_MIRROR,)
    ),
}  # fmt: skip

# The package's names for the one digest helper (`digests`), kept for callers.
checkpoint_sha256 = sha256_file
checkpoint_md5 = md5_file


def cache_dir() -> Path:
    """Where named checkpoints live: `$SAM_CACHE_DIR` or `~/.cache/sam-annotator`."""
    env = os.environ.get("SAM_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sam-annotator"


def resolve_checkpoint(name_or_path: str | os.PathLike[str], download: bool = True) -> Path:
    """Path of a checkpoint given a file path or a known name (`KNOWN_CHECKPOINTS`).

    A known name maps to `cache_dir() / filename`; when that file is missing it is downloaded
    if `download`, otherwise `CheckpointUnavailable` says which URL to fetch and where to save it.
    Nothing is loaded. Raises `CheckpointUnavailable` for a path that does not exist.
    """
    name = str(name_or_path)
    if name in KNOWN_CHECKPOINTS:
        return resolve_row(name, KNOWN_CHECKPOINTS[name], download=download)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    known = ", ".join(sorted(KNOWN_CHECKPOINTS))
    raise CheckpointUnavailable(
        f"checkpoint {str(path)!r} does not exist and is not a known name ({known})", path=path
    )


def resolve_row(name: str, entry: Mapping[str, Any], *, download: bool = True) -> Path:
    """The cached file of one table row (`official`), downloaded and checked when missing if
    `download`; otherwise `CheckpointUnavailable` says which URL to fetch and where to save it.
    Other model families (`annotator.sam2.checkpoints`) keep their own tables of such rows and
    resolve them here, so every family has the same download, integrity and offline story."""
    target = cache_dir() / entry["filename"]
    if target.is_file():
        return target
    if not download:
        raise CheckpointUnavailable(
            _manual_download_message(name, target, entry=entry), url=entry["url"], path=target
        )
    return download_checkpoint(name, target, entry=entry)


def _manual_download_message(
    name: str, target: Path, reason: str = "", *, entry: Mapping[str, Any] | None = None
) -> str:
    entry = entry if entry is not None else KNOWN_CHECKPOINTS[name]
    why = f" ({reason})" if reason else ""
    digests = ", ".join(f"{k} {entry[k]}" for k in DIGESTS if k in entry)
    return (
        f"checkpoint {name!r} is not available{why}. Download {entry['url']} and save it as "
        f"{target}{f' ({digests})' if digests else ''}, or set SAM_CACHE_DIR to a folder that "
        f"holds {entry['filename']}."
    )


def download_checkpoint(
    name: str,
    target: Path | None = None,
    timeout: float = 30.0,
    *,
    entry: Mapping[str, Any] | None = None,
) -> Path:
    """Download a known checkpoint to `target` (default: the cache dir), checking the digests
    its row lists.

    The file is written to a temporary file beside the target and renamed into place only
    once complete and verified, so an interrupted download never leaves a truncated checkpoint.
    The computed sha256 is logged (none is published for the SAM files). Raises
    `CheckpointUnavailable`. `entry`: the row, when it is not one of `KNOWN_CHECKPOINTS`.
    """
    from tqdm import tqdm

    entry = entry if entry is not None else KNOWN_CHECKPOINTS[name]
    target = target or cache_dir() / entry["filename"]
    target.parent.mkdir(parents=True, exist_ok=True)
    expected = {algorithm: entry[algorithm] for algorithm in DIGESTS if algorithm in entry}
    errors = []
    for url in [entry["url"], *entry.get("mirrors", [])]:
        tmp = None
        try:
            digests = {algorithm: hashlib.new(algorithm) for algorithm in DIGESTS}
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                total = int(response.headers.get("Content-Length") or 0) or None
                with (
                    tempfile.NamedTemporaryFile(
                        dir=target.parent, prefix=target.name + ".", suffix=".part", delete=False
                    ) as out,
                    tqdm(total=total, unit="B", unit_scale=True, desc=entry["filename"]) as bar,
                ):
                    tmp = Path(out.name)
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        for digest in digests.values():
                            digest.update(chunk)
                        bar.update(len(chunk))
            got = {algorithm: digest.hexdigest() for algorithm, digest in digests.items()}
            for algorithm, value in expected.items():
                if got[algorithm] != value:
                    raise ValueError(f"{algorithm} {got[algorithm]} != expected {value}")
            if not expected:
                logger.warning("%s: no published digest to check the download against", name)
            os.replace(tmp, target)
            logger.info("downloaded %s to %s (sha256 %s)", url, target, got["sha256"])
            return target
        except Exception as exc:  # any network or integrity failure: try the next URL
            errors.append(f"{url}: {exc}")
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    raise CheckpointUnavailable(
        _manual_download_message(
            name, target, "download failed: " + "; ".join(errors), entry=entry
        ),
        url=entry["url"],
        path=target,
    )


def _unpickling_reason(exc: Exception) -> str:
    """The part of torch's refusal that names what the file wanted. torch's full message carries
    terminal colour codes and advises allowlisting the object, which is the wrong advice for a
    file that may be hostile and the wrong text for an API answer."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return f"it asks for {found.group(1)}"
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    if found:
        return found.group(1).strip()[:200]
    return type(exc).__name__


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict with `torch.load(weights_only=True)` (no arbitrary code runs).

    Accepts a raw state dict or `{"model": state_dict}` / `{"state_dict": state_dict}`.
    Raises `CheckpointError` naming the file for anything else.
    """
    import torch

    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: the file is not a plain tensor checkpoint (it needs "
            f"objects that weights_only loading does not allow, which could run code): "
            f"{_unpickling_reason(exc)}"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {exc}"
        ) from exc
    if isinstance(obj, Mapping):
        for wrapper in ("model", "state_dict"):
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: expected a state dict, found {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: not a state dict, non-tensor entries: {bad[:5]}")
    return dict(obj)
