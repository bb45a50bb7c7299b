"""SAM 2 names have SAM 1's download story: fetched once into the cache, checked against the
sha256 in the table (a bad file never lands), and offline a message naming the URL and the
place to put the file. The "server" is a file:// URL holding the pack's small model under an
official name (nothing leaves the machine)."""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path

import pytest

from annotator.sam2 import SAM2_CHECKPOINTS, CheckpointUnavailable
from annotator.sam2.checkpoints import resolve_sam2_checkpoint
from annotator.segmenters import Sam2Segmenter, load_segmenter
from tests.sam2.conftest import PACK_MODEL

NAME = "sam2.1_hiera_tiny.pt"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SAM_CACHE_DIR", str(folder))
    return folder


def _published(
    sam2_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, correct: bool
) -> str:
    """Serve the pack's model as Meta's tiny file, with the right or a wrong digest listed."""
    served = tmp_path / "server" / NAME
    served.parent.mkdir()
    shutil.copy(sam2_pack / f"{PACK_MODEL}.pt", served)
    digest = hashlib.sha256(served.read_bytes()).hexdigest() if correct else "0" * 64
    entry = dataclasses.replace(SAM2_CHECKPOINTS[NAME], url=served.as_uri(), sha256=digest)
    monkeypatch.setitem(SAM2_CHECKPOINTS, NAME, entry)
    return digest


def test_a_sam2_name_is_downloaded_once_checked_and_loaded_as_sam2(
    sam2_pack: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _published(sam2_pack, tmp_path, monkeypatch, correct=True)
    path = resolve_sam2_checkpoint(NAME, download=True)
    assert (
        path == cache / NAME and path.read_bytes() == (sam2_pack / f"{PACK_MODEL}.pt").read_bytes()
    )
    assert list(cache.iterdir()) == [path]  # no temporary file left behind
    loaded = load_segmenter(NAME, device="cpu", download=False)
    assert isinstance(loaded.segmenter, Sam2Segmenter) and loaded.path == path
    assert loaded.segmenter.family == "sam2" and loaded.segmenter.model.model_name == "mini"


def test_a_sam2_download_with_the_wrong_sha256_is_discarded(
    sam2_pack: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = _published(sam2_pack, tmp_path, monkeypatch, correct=False)
    with pytest.raises(CheckpointUnavailable, match=f"sha256 .* != expected {digest}"):
        resolve_sam2_checkpoint(NAME, download=True)
    assert not cache.exists() or list(cache.iterdir()) == []


def test_offline_a_sam2_name_says_which_url_to_fetch_and_where_to_put_it(cache: Path) -> None:
    with pytest.raises(CheckpointUnavailable) as info:
        load_segmenter("sam2.1_hiera_large.pt", download=False)
    message = str(info.value)
    assert SAM2_CHECKPOINTS["sam2.1_hiera_large.pt"].url in message
    assert str(cache / "sam2.1_hiera_large.pt") in message
    assert SAM2_CHECKPOINTS["sam2.1_hiera_large.pt"].sha256 in message


def test_an_ultralytics_alias_stands_for_metas_file(
    sam2_pack: Path, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _published(sam2_pack, tmp_path, monkeypatch, correct=True)
    assert resolve_sam2_checkpoint("sam2.1_t.pt", download=True) == cache / NAME
