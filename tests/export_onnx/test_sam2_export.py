"""SAM 2.1's exported decoder graphs against the SAM 2.1 reference pack, in onnxruntime.

The export goes through the real CLI (``python -m export_onnx --checkpoint sam2.1_hiera_mini.pt``,
which must recognise the family). Features come from our PyTorch port (exact to the pack, see
tests/sam2); the graphs then have to reproduce every prompt case's goldens within the pack's
tolerances: the single graph (``decoder.onnx``) and the fast path (``prepare`` + ``decode``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from export_onnx.sam2_runtime import Sam2OnnxDecoder, sam2_prompt_tensors
from tests.sam2.conftest import (
    PACK_IMAGES,
    PACK_MODEL,
    mask_input_for,
    tolerance_for,
    worst_ratio,
)


def _cases(manifest: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    images = manifest["models"][PACK_MODEL]["images"]
    return [(img, case) for img in PACK_IMAGES for case in images[img]["cases"]]


def test_manifest_says_sam2_and_verification_passed(sam2_export: Path) -> None:
    manifest = json.loads((sam2_export / "manifest.json").read_text())
    assert manifest["model"]["family"] == "sam2"
    assert manifest["model"]["checkpoint"] == f"{PACK_MODEL}.pt"
    assert manifest["verification"]["status"] == "passed"
    assert set(manifest["graphs"]) == {"decoder", "prepare", "decode"}
    inputs = [i["name"] for i in manifest["graphs"]["decoder"]["inputs"]]
    assert inputs == [
        "image_embed", "high_res_feats_0", "high_res_feats_1", "point_coords", "point_labels",
        "mask_input", "has_mask_input", "orig_im_size",
    ]  # fmt: skip


def _check(
    got: dict[str, np.ndarray],
    goldens: dict[str, np.ndarray],
    tolerances: dict[str, Any],
    prefix: str,
) -> dict[str, float]:
    ratios = {}
    for kind in ("mask_logits", "iou_predictions", "low_res_logits"):
        golden = goldens[f"{prefix}/{kind}"]
        ratios[kind] = worst_ratio(got[kind], golden, tolerance_for(tolerances, kind, golden))
    signs = np.mean((got["mask_logits"] > 0) == (goldens[f"{prefix}/mask_logits"] > 0))
    assert signs >= tolerances["mask_logits"].get("sign_agreement_min", 0.9999), prefix
    assert max(ratios.values()) <= 1.0, f"{prefix}: worst / bound {ratios}"
    return ratios


def test_single_graph_matches_goldens_for_every_case(
    sam2_export: Path,
    sam2_features: dict[str, dict[str, np.ndarray]],
    sam2_goldens: dict[str, np.ndarray],
    sam2_manifest: dict[str, Any],
    sam2_tolerances: dict[str, Any],
) -> None:
    session = ort.InferenceSession(str(sam2_export / "decoder.onnx"))
    for img, case in _cases(sam2_manifest):
        h, w = (int(v) for v in sam2_goldens[f"{img}/orig_hw"])
        mask_input = mask_input_for(case, sam2_goldens, img)
        feeds = {
            **sam2_features[img],
            **sam2_prompt_tensors(
                case.get("point_coords"), case.get("point_labels"), case.get("box"), (h, w)
            ),
            "mask_input": np.zeros((1, 1, 256, 256), np.float32)
            if mask_input is None
            else mask_input[None].astype(np.float32),
            "has_mask_input": np.array([0.0 if mask_input is None else 1.0], np.float32),
            "orig_im_size": np.array([h, w], np.float32),
        }
        masks, iou, low = session.run(None, feeds)
        picks = slice(1, None) if case["multimask_output"] else slice(0, 1)
        got = {
            "mask_logits": masks[0, picks],
            "iou_predictions": iou[0, picks],
            "low_res_logits": low[0, picks],
        }
        _check(got, sam2_goldens, sam2_tolerances, f"{img}/{case['name']}")


def test_fast_path_matches_goldens_for_every_case(
    sam2_export: Path,
    sam2_features: dict[str, dict[str, np.ndarray]],
    sam2_goldens: dict[str, np.ndarray],
    sam2_manifest: dict[str, Any],
    sam2_tolerances: dict[str, Any],
) -> None:
    decoder = Sam2OnnxDecoder(sam2_export)
    fallbacks = 0
    for img, case in _cases(sam2_manifest):
        h, w = (int(v) for v in sam2_goldens[f"{img}/orig_hw"])
        prepared = decoder.prepare(sam2_features[img], mask_input_for(case, sam2_goldens, img))
        masks, iou, low = decoder.predict(
            prepared,
            orig_size=(h, w),
            point_coords=case.get("point_coords"),
            point_labels=case.get("point_labels"),
            box=case.get("box"),
            multimask_output=case["multimask_output"],
        )
        got = {"mask_logits": masks, "iou_predictions": iou, "low_res_logits": low}
        _check(got, sam2_goldens, sam2_tolerances, f"{img}/{case['name']}")
        fallbacks += int(case.get("single_mask_token", 0) != 0)
    assert fallbacks > 0, "the pack's single-mask fallback cases must be among those checked"
