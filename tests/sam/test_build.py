"""Architecture registry: exact official state-dict keys/shapes and automatic type detection."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch

from annotator.sam import MODEL_REGISTRY, infer_model_config
from annotator.sam.build import construct_sam, registry_name

OFFICIAL = {
    "vit_b": "keys_sam_vit_b.json",
    "vit_l": "keys_sam_vit_l.json",
    "vit_h": "keys_sam_vit_h.json",
    "mobile_sam": "keys_mobile_sam.json",
}


def _official_shapes(reference_dir: Path, model_type: str) -> dict[str, tuple[int, ...]]:
    keys = json.loads((reference_dir / OFFICIAL[model_type]).read_text())
    return {k: tuple(v) for k, v in keys.items()}


@pytest.mark.parametrize("model_type", sorted(OFFICIAL))
def test_each_registered_model_has_exactly_the_official_keys_and_shapes(
    model_type: str, reference_dir: Path
) -> None:
    with torch.device("meta"):
        model = construct_sam(MODEL_REGISTRY[model_type], model_type)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    official = _official_shapes(reference_dir, model_type)
    assert sorted(set(official) - set(ours)) == []
    assert sorted(set(ours) - set(official)) == []
    assert {k: s for k, s in ours.items() if official[k] != s} == {}


@pytest.mark.parametrize("model_type", sorted(OFFICIAL))
def test_auto_detection_picks_the_right_type_from_official_shapes(
    model_type: str, reference_dir: Path
) -> None:
    state_dict: dict[str, Any] = {
        k: torch.empty(s, device="meta")
        for k, s in _official_shapes(reference_dir, model_type).items()
    }
    config = infer_model_config(state_dict)
    assert registry_name(config) == model_type


def test_auto_detection_reads_the_small_pack_vit_config(
    reference_dir: Path, reference_manifest: dict[str, Any]
) -> None:
    state_dict = torch.load(
        reference_dir / "sam_vit_small.pth", map_location="cpu", weights_only=True
    )
    config = infer_model_config(state_dict)
    expected = reference_manifest["models"]["sam_vit_small"]["config"]
    assert config["embed_dim"] == expected["embed_dim"]
    assert config["depth"] == expected["depth"]
    assert config["num_heads"] == expected["num_heads"]
    assert list(config["global_attn_indexes"]) == expected["global_attn_indexes"]
    assert config["window_size"] == expected["window_size"]
    assert registry_name(config) is None


def test_built_model_exposes_its_type_and_config(reference_dir: Path) -> None:
    from annotator.sam import build_sam

    model = build_sam(reference_dir / "mobile_sam.pth", device="cpu")
    assert model.model_type == "mobile_sam"
    assert model.config == MODEL_REGISTRY["mobile_sam"] | {"num_classes": 1000}
    assert model.mask_threshold == 0.0 and model.image_format == "RGB"
    assert not model.training
