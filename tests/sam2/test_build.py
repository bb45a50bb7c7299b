"""Architectures, size/version detection and checkpoint loading of SAM 2.

The official key lists of the pack (`keys_sam2.1_hiera_*.json`, from Meta's configs) are the
ground truth for the four official sizes; building on the `meta` device costs no memory.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

from annotator.sam2 import (
    MODEL_REGISTRY,
    SAM2_CHECKPOINTS,
    CheckpointError,
    CheckpointUnavailable,
    SAM2Image,
    build_sam2,
    construct_sam2,
    infer_sam2_config,
)
from annotator.sam2.build import sam2_from_state_dict

from .conftest import OFFICIAL_SIZES, PACK_MODEL

SAM21_ONLY = ("no_obj_embed_spatial", "obj_ptr_tpos_proj.weight", "obj_ptr_tpos_proj.bias")


def official_keys(pack: Path, size: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((pack / f"keys_sam2.1_hiera_{size}.json").read_text())
    return data


def meta_model(name: str) -> SAM2Image:
    with torch.device("meta"):
        return construct_sam2(MODEL_REGISTRY[name])


@pytest.mark.parametrize("size", OFFICIAL_SIZES)
def test_each_official_size_builds_exactly_metas_state_dict(sam2_pack: Path, size: str) -> None:
    official = official_keys(sam2_pack, size)
    model = meta_model(size)
    ours = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert set(ours) - set(official["state_dict"]) == set()
    assert set(official["state_dict"]) - set(ours) == set()
    assert ours == official["state_dict"]
    assert len(ours) == official["num_state_dict_entries"]
    assert sum(p.numel() for p in model.parameters()) == official["num_parameters"]
    elements = sum(v.numel() for v in model.state_dict().values())
    assert elements == official["num_state_dict_elements"]


@pytest.mark.parametrize("size", OFFICIAL_SIZES)
def test_size_and_version_are_detected_from_the_official_key_lists(
    sam2_pack: Path, size: str
) -> None:
    shapes = official_keys(sam2_pack, size)["state_dict"]
    name, config = infer_sam2_config(shapes)
    assert name == size and config == MODEL_REGISTRY[size]
    assert config.memory.sam21

    # SAM 2.0 files lack exactly the 2.1 video keys; the trunk and heads are the same.
    name, config = infer_sam2_config({k: v for k, v in shapes.items() if k not in SAM21_ONLY})
    assert name == size and not config.memory.sam21
    with torch.device("meta"):
        sam20 = construct_sam2(config)
    assert set(sam20.state_dict()) == set(shapes) - set(SAM21_ONLY)


def test_the_pack_checkpoint_loads_as_the_mini_sam21_model(
    sam2_pack: Path, sam2_model: SAM2Image, sam2_model_meta: dict[str, Any]
) -> None:
    assert sam2_model.model_name == "mini" and sam2_model.sam_version == "2.1"
    assert sum(p.numel() for p in sam2_model.parameters()) == sam2_model_meta["num_parameters"]
    saved = torch.load(sam2_pack / f"{PACK_MODEL}.pt", map_location="cpu", weights_only=True)
    state = sam2_model.state_dict()
    assert len(state) == sam2_model_meta["num_state_dict_entries"] == len(saved["model"])
    for key, value in saved["model"].items():
        assert torch.equal(state[key], value), key
    assert not sam2_model.training
    # Built on the meta device, then every tensor assigned from the file: none left behind.
    tensors = [*sam2_model.parameters(), *sam2_model.buffers()]
    assert all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)


def test_a_sam20_checkpoint_loads_and_reports_its_version(sam2_pack: Path) -> None:
    saved = torch.load(sam2_pack / f"{PACK_MODEL}.pt", map_location="cpu", weights_only=True)
    state = {k: v for k, v in saved["model"].items() if k not in SAM21_ONLY}
    model = sam2_from_state_dict(state)
    assert model.model_name == "mini" and model.sam_version == "2.0"
    assert not hasattr(model, "obj_ptr_tpos_proj")


def test_a_sam1_checkpoint_given_to_the_sam2_builder_is_a_clear_error(
    reference_dir: Path,
) -> None:
    with pytest.raises(ValueError, match="SAM 1 checkpoint.*annotator.sam.build_sam"):
        build_sam2(reference_dir / "sam_vit_small.pth")


def test_a_truncated_checkpoint_is_a_clear_error(sam2_pack: Path, tmp_path: Path) -> None:
    data = (sam2_pack / f"{PACK_MODEL}.pt").read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        build_sam2(truncated)
    assert issubclass(CheckpointError, ValueError)


def test_missing_or_unexpected_trunk_keys_are_named(sam2_pack: Path) -> None:
    saved = torch.load(sam2_pack / f"{PACK_MODEL}.pt", map_location="cpu", weights_only=True)
    state = dict(saved["model"])
    missing = dict(state)
    del missing["image_encoder.trunk.blocks.2.attn.qkv.weight"]
    with pytest.raises(ValueError, match=r"1 missing keys \['image_encoder.trunk.blocks.2.attn"):
        sam2_from_state_dict(missing)
    extra = dict(state, **{"image_encoder.trunk.blocks.0.extra": torch.zeros(1)})
    with pytest.raises(ValueError, match="1 unexpected keys"):
        sam2_from_state_dict(extra)
    no_pos = {k: v for k, v in state.items() if not k.endswith("trunk.pos_embed")}
    with pytest.raises(ValueError, match="no image_encoder.trunk.pos_embed"):
        sam2_from_state_dict(no_pos)


def test_an_unknown_trunk_is_a_clear_error(sam2_pack: Path) -> None:
    shapes = dict(official_keys(sam2_pack, "tiny")["state_dict"])
    shapes["image_encoder.trunk.pos_embed"] = [1, 80, 7, 7]
    with pytest.raises(ValueError, match="unknown SAM 2 trunk.*known: tiny"):
        infer_sam2_config(shapes)


def test_half_a_sam21_version_signature_is_rejected(sam2_pack: Path) -> None:
    shapes = dict(official_keys(sam2_pack, "small")["state_dict"])
    del shapes["no_obj_embed_spatial"]
    with pytest.raises(ValueError, match="inconsistent SAM 2 version"):
        infer_sam2_config(shapes)


def test_checkpoint_table_lists_metas_files_and_ultralytics_aliases() -> None:
    for size in OFFICIAL_SIZES:
        sam21 = SAM2_CHECKPOINTS[f"sam2.1_hiera_{size}.pt"]
        assert sam21.url == (
            f"https://dl.fbaipublicfiles.com/segment_anything_2/092824/sam2.1_hiera_{size}.pt"
        )
        assert (sam21.size, sam21.version, sam21.family) == (size, "2.1", "meta")
        assert sam21.sha256 is not None and len(sam21.sha256) == 64 and sam21.num_bytes
        sam20 = SAM2_CHECKPOINTS[f"sam2_hiera_{size}.pt"]
        assert sam20.url.endswith(f"/072824/sam2_hiera_{size}.pt") and sam20.version == "2.0"
        assert size in MODEL_REGISTRY
    aliases = {n: e for n, e in SAM2_CHECKPOINTS.items() if e.family == "ultralytics"}
    assert sorted(aliases) == ["sam2.1_b.pt", "sam2.1_l.pt", "sam2.1_s.pt", "sam2.1_t.pt"]
    assert aliases["sam2.1_b.pt"].alias_of == "sam2.1_hiera_base_plus.pt"


def test_a_known_name_resolves_from_the_cache_or_says_where_to_get_it(
    sam2_pack: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAM_CACHE_DIR", str(tmp_path))
    with pytest.raises(CheckpointUnavailable, match="092824/sam2.1_hiera_tiny.pt.*save it as"):
        build_sam2("sam2.1_hiera_tiny.pt")
    # A file cached under a known name is used as is; its contents decide the architecture.
    shutil.copy(sam2_pack / f"{PACK_MODEL}.pt", tmp_path / "sam2.1_t.pt")
    assert build_sam2("sam2.1_t.pt").model_name == "mini"
    with pytest.raises(CheckpointUnavailable, match="not a known SAM 2 name"):
        build_sam2(tmp_path / "nothing.pt")
