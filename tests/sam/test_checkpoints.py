"""Checkpoint resolution, download and loading, including hostile and broken files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import logging
import pickle
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from annotator.sam import (
    KNOWN_CHECKPOINTS,
    CheckpointError,
    CheckpointUnavailable,
    build_sam,
    checkpoint_sha256,
    resolve_checkpoint,
)
from annotator.sam.checkpoints import official


class _CreatesAFileWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("SAM_CACHE_DIR", str(folder))
    return folder


@pytest.fixture
def fake_mobile_sam(monkeypatch: pytest.MonkeyPatch, reference_dir: Path) -> dict[str, Any]:
    """Point the known `mobile_sam` entry at the pack's small file (never the internet)."""
    source = reference_dir / "mobile_sam.pth"
    entry = {
        **KNOWN_CHECKPOINTS["mobile_sam"],
        "url": source.as_uri(),
        "mirrors": [],
        "md5": hashlib.md5(source.read_bytes()).hexdigest(),
    }
    monkeypatch.setitem(KNOWN_CHECKPOINTS, "mobile_sam", entry)
    return entry


@pytest.fixture
def http_folder(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def test_a_known_name_downloads_once_into_the_cache_with_md5_check_and_logged_sha256(
    cache: Path, fake_mobile_sam: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="annotator.sam.checkpoints"):
        path = resolve_checkpoint("mobile_sam")
    assert path == cache / "mobile_sam.pt" and path.is_file()
    assert checkpoint_sha256(path) in caplog.text
    assert list(cache.iterdir()) == [path]  # no temporary file left behind
    model = build_sam("mobile_sam", device="cpu")
    assert model.model_type == "mobile_sam"


def test_a_download_served_over_http_is_verified_and_renamed_into_place(
    cache: Path,
    fake_mobile_sam: dict[str, Any],
    http_folder: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
    reference_dir: Path,
) -> None:
    base, folder = http_folder
    shutil.copy(reference_dir / "mobile_sam.pth", folder / "mobile_sam.pt")
    monkeypatch.setitem(fake_mobile_sam, "url", f"{base}/mobile_sam.pt")
    path = resolve_checkpoint("mobile_sam")
    assert path.read_bytes() == (reference_dir / "mobile_sam.pth").read_bytes()


def test_a_failed_download_says_which_url_to_fetch_and_where_to_put_it(
    cache: Path,
    fake_mobile_sam: dict[str, Any],
    http_folder: tuple[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    base, _ = http_folder
    monkeypatch.setitem(fake_mobile_sam, "url", f"{base}/missing.pt")
    with pytest.raises(CheckpointUnavailable) as info:
        resolve_checkpoint("mobile_sam")
    message = str(info.value)
    assert f"{base}/missing.pt" in message
    assert str(cache / "mobile_sam.pt") in message
    assert info.value.path == cache / "mobile_sam.pt"
    assert not cache.exists() or list(cache.iterdir()) == []


def test_a_download_with_the_wrong_md5_is_discarded(
    cache: Path, fake_mobile_sam: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(fake_mobile_sam, "md5", "0" * 32)
    with pytest.raises(CheckpointUnavailable, match="md5"):
        resolve_checkpoint("mobile_sam")
    assert list(cache.iterdir()) == []


@pytest.mark.parametrize("correct", [True, False])
def test_a_new_family_is_a_row_and_its_published_sha256_is_checked(
    cache: Path, monkeypatch: pytest.MonkeyPatch, reference_dir: Path, correct: bool
) -> None:
    source = reference_dir / "mobile_sam.pth"
    sha256 = hashlib.sha256(source.read_bytes()).hexdigest() if correct else "0" * 64
    row = official("mobile_sam", source.as_uri(), sha256=sha256)
    monkeypatch.setitem(KNOWN_CHECKPOINTS, "another_family_tiny", row)
    if correct:
        assert resolve_checkpoint("another_family_tiny") == cache / "mobile_sam.pth"
    else:
        with pytest.raises(CheckpointUnavailable, match=f"sha256 {sha256}"):
            resolve_checkpoint("another_family_tiny")
        assert list(cache.iterdir()) == []


def test_without_download_a_missing_known_checkpoint_is_reported_not_fetched(cache: Path) -> None:
    with pytest.raises(CheckpointUnavailable) as info:
        resolve_checkpoint("sam_vit_h", download=False)
    assert KNOWN_CHECKPOINTS["sam_vit_h"]["url"] in str(info.value)
    assert str(cache / "sam_vit_h_4b8939.pth") in str(info.value)


def test_a_missing_path_is_reported_with_the_known_names(tmp_path: Path) -> None:
    with pytest.raises(CheckpointUnavailable, match="sam_vit_b"):
        resolve_checkpoint(tmp_path / "nope.pth")


def test_a_file_that_is_not_a_checkpoint_is_rejected_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.pth"
    path.write_text("definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pth"):
        build_sam(path)


def test_a_truncated_checkpoint_is_rejected(tmp_path: Path, reference_dir: Path) -> None:
    data = (reference_dir / "sam_vit_small.pth").read_bytes()
    path = tmp_path / "truncated.pth"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated.pth"):
        build_sam(path)


@pytest.mark.parametrize("legacy_format", [False, True])
def test_a_pickle_that_would_run_code_is_refused_without_running_it(
    tmp_path: Path, legacy_format: bool
) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pth"
    if legacy_format:
        path.write_bytes(pickle.dumps({"model": _CreatesAFileWhenUnpickled(marker)}))
    else:
        torch.save({"model": _CreatesAFileWhenUnpickled(marker)}, path)
    with pytest.raises(CheckpointError, match="evil.pth") as refused:
        build_sam(path)
    assert not marker.exists()
    # The reason names what the file asked for, in plain text (no terminal colour codes, no
    # advice to allowlist it).
    message = str(refused.value)
    assert "\x1b" not in message and "weights_only` set to `False" not in message
    assert "refused to load" in message and message.endswith(
        "Unsupported operand 149" if legacy_format else "it asks for getattr"
    )


def test_a_checkpoint_of_another_network_is_rejected_with_its_keys(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save(torch.nn.Linear(3, 4).state_dict(), path)
    with pytest.raises(CheckpointError, match=r"resnet.pth.*weight"):
        build_sam(path)


def test_a_checkpoint_of_the_wrong_sam_variant_lists_missing_and_unexpected_keys(
    reference_dir: Path,
) -> None:
    with pytest.raises(CheckpointError) as info:
        build_sam(reference_dir / "mobile_sam.pth", model_type="vit_b")
    message = str(info.value)
    assert "mobile_sam.pth" in message
    assert "missing keys" in message and "image_encoder.blocks.0" in message
    assert "unexpected keys" in message and "image_encoder.patch_embed.seq" in message


def test_a_state_dict_wrapped_in_a_model_entry_loads(tmp_path: Path, reference_dir: Path) -> None:
    state_dict = torch.load(
        reference_dir / "sam_vit_small.pth", map_location="cpu", weights_only=True
    )
    path = tmp_path / "wrapped.pth"
    torch.save({"model": state_dict, "epoch": torch.tensor(3)}, path)
    model = build_sam(path, device="cpu")
    assert model.config["embed_dim"] == 96
    torch.testing.assert_close(
        model.image_encoder.pos_embed, state_dict["image_encoder.pos_embed"], atol=0, rtol=0
    )


def test_an_unknown_model_type_is_a_value_error(reference_dir: Path) -> None:
    with pytest.raises(ValueError, match="vit_x"):
        build_sam(reference_dir / "sam_vit_small.pth", model_type="vit_x")
