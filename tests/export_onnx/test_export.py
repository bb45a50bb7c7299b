"""The exported graphs against the reference pack, the PyTorch model and each other."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import pytest

from export_onnx import wire
from export_onnx.runtime import ExportMismatchError, OnnxDecoder, load_manifest
from tests.conftest import REPO_ROOT
from tests.export_onnx.conftest import MODELS, iou, manifest_cases


def _onnx_ref_feeds(g: Any, img: str) -> dict[str, np.ndarray]:
    h, w = (int(v) for v in g[f"{img}/onnx_ref/masks"].shape[-2:])
    return {
        "image_embeddings": g[f"{img}/embedding"],
        "point_coords": g[f"{img}/onnx_ref/point_coords_transformed"],
        "point_labels": g[f"{img}/onnx_ref/point_labels"],
        "mask_input": np.zeros((1, 1, 256, 256), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array([h, w], np.float32),
    }


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("img", ["chelsea", "rocket"])
def test_decoder_onnx_matches_metas_wrapper_for_every_image_size(
    exports: dict[str, Path], goldens: dict[str, Any], model: str, img: str
) -> None:
    g = goldens[model]
    session = ort.InferenceSession(str(exports[model] / "decoder.onnx"))
    masks, scores, low = session.run(None, _onnx_ref_feeds(g, img))
    ref = g[f"{img}/onnx_ref/masks"]
    assert masks.shape == ref.shape
    assert np.abs(masks - ref).max() <= 2e-2
    assert ((masks > 0) == (ref > 0)).mean() >= 0.999
    assert np.abs(scores - g[f"{img}/onnx_ref/iou_predictions"]).max() <= 2e-3
    assert np.abs(low - g[f"{img}/onnx_ref/low_res_masks"]).max() <= 2e-3


def test_metas_export_crops_chelsea_wrong_and_ours_does_not(
    exports: dict[str, Path], goldens: dict[str, Any], reference_dir: Path
) -> None:
    g = goldens["sam_vit_small"]
    feeds = _onnx_ref_feeds(g, "chelsea")
    ref = g["chelsea/onnx_ref/masks"] > 0
    theirs = ort.InferenceSession(str(reference_dir / "reference_decoder_sam_vit_small.onnx"))
    ours = ort.InferenceSession(str(exports["sam_vit_small"] / "decoder.onnx"))
    assert ((theirs.run(["masks"], feeds)[0] > 0) == ref).mean() < 0.99
    assert ((ours.run(["masks"], feeds)[0] > 0) == ref).mean() >= 0.999


def _case_args(g: Any, model: str, img: str, case: dict[str, Any]) -> dict[str, Any]:
    mask_input = None
    if case.get("use_mask_input_from"):
        mask_input = g[f"{img}/{model}/{case['name']}/mask_input"]
    return {
        "point_coords": case.get("point_coords"),
        "point_labels": case.get("point_labels"),
        "box": case.get("box"),
        "mask_input": mask_input,
        "multimask_output": case["multimask_output"],
    }


@pytest.mark.parametrize("model", MODELS)
def test_fast_path_with_wire_embedding_matches_goldens_for_every_case(
    exports: dict[str, Path],
    goldens: dict[str, Any],
    reference_manifest: dict[str, Any],
    model: str,
) -> None:
    g = goldens[model]
    decoder = OnnxDecoder(exports[model])
    for img, case in manifest_cases(reference_manifest, model):
        size = tuple(int(v) for v in g[f"{img}/{case['name']}/mask_logits"].shape[-2:])
        image = decoder.prepare(wire.encode_embedding(g[f"{img}/embedding"], original_size=size))
        masks, scores, low = decoder.predict(**_case_args(g, model, img, case), image=image)
        ref = g[f"{img}/{case['name']}/mask_logits"].astype(np.float32) > 0
        assert masks.shape == ref.shape, (img, case["name"])
        for m, r in zip(masks, ref, strict=True):
            assert iou(m, r) >= 0.99, (img, case["name"], iou(m, r))


@pytest.mark.parametrize("model", MODELS)
def test_fast_path_equals_predictor_on_the_same_embedding_for_every_case(
    exports: dict[str, Path],
    goldens: dict[str, Any],
    reference_manifest: dict[str, Any],
    reference_dir: Path,
    model: str,
) -> None:
    """Graph exactness: the predictor runs on the dequantized wire embedding the graphs see."""
    from annotator.sam import SamPredictor, build_sam

    predictor = SamPredictor(build_sam(reference_dir / f"{model}.pth", device="cpu"))
    g = goldens[model]
    decoder = OnnxDecoder(exports[model])
    for img, case in manifest_cases(reference_manifest, model):
        size = tuple(int(v) for v in g[f"{img}/{case['name']}/mask_logits"].shape[-2:])
        data = wire.encode_embedding(g[f"{img}/embedding"], original_size=size)
        predictor.set_image_embedding(wire.decode_embedding(data)[0], size)
        args = _case_args(g, model, img, case)
        ref_masks, ref_scores, ref_low = predictor.predict(**args)
        masks, scores, low = decoder.predict(**args, image=decoder.prepare(data))
        assert np.abs(low - ref_low).max() <= 1e-3 * max(1.0, np.abs(ref_low).max())
        assert np.abs(scores - ref_scores).max() <= 1e-3
        for m, r in zip(masks, ref_masks, strict=True):
            assert iou(m, r) >= 0.999, (img, case["name"])


@pytest.mark.parametrize("model", MODELS)
def test_quantized_variants_report_agreement_of_at_least_097(
    exports: dict[str, Path],
    goldens: dict[str, Any],
    reference_manifest: dict[str, Any],
    model: str,
) -> None:
    checks = load_manifest(exports[model])["verification"]
    assert checks["decode_int8"]["mean_iou"] >= 0.97
    assert checks["decoder_int8"]["mean_iou"] >= 0.97
    g = goldens[model]
    decoder = OnnxDecoder(exports[model], quantized=True)
    ious = []
    for img, case in manifest_cases(reference_manifest, model):
        size = tuple(int(v) for v in g[f"{img}/{case['name']}/mask_logits"].shape[-2:])
        image = decoder.prepare(wire.encode_embedding(g[f"{img}/embedding"], original_size=size))
        masks, _, _ = decoder.predict(**_case_args(g, model, img, case), image=image)
        ref = g[f"{img}/{case['name']}/mask_logits"].astype(np.float32) > 0
        ious += [iou(m, r) for m, r in zip(masks, ref, strict=True)]
    assert np.mean(ious) >= 0.97


def test_manifest_lists_every_file_with_a_checksum_that_verifies(
    exports: dict[str, Path], tmp_path: Path
) -> None:
    src = exports["sam_vit_small"]
    manifest = load_manifest(src)
    assert manifest["verification"]["status"] == "passed"
    assert manifest["opset"] == 17
    assert set(manifest["graphs"]) >= {"decoder", "prepare", "decode", "encoder", "decode_int8"}
    assert {p.name for p in src.iterdir()} == {*manifest["files"], "manifest.json"}
    decode_inputs = [i["name"] for i in manifest["graphs"]["decode"]["inputs"]]
    assert decode_inputs[-2:] == ["point_coords", "point_labels"]
    assert manifest["embedding"]["wire"]["bytes"] <= 1_100_000
    assert manifest["preprocessing"]["pixel_mean"] == [123.675, 116.28, 103.53]
    copy = tmp_path / "copy"
    shutil.copytree(src, copy)
    with (copy / "decode.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ExportMismatchError, match="checksum"):
        load_manifest(copy)


def test_decoder_refuses_an_embedding_of_another_checkpoint(exports: dict[str, Path]) -> None:
    decoder = OnnxDecoder(exports["sam_vit_small"])
    other = bytes.fromhex(load_manifest(exports["mobile_sam"])["embedding"]["wire"]["model_key"])
    data = wire.encode_embedding(np.zeros((1, 256, 64, 64), np.float32), model_key=other)
    with pytest.raises(ExportMismatchError, match="model key"):
        decoder.prepare(data)


def test_encoder_onnx_matches_the_pack_embedding(
    exports: dict[str, Path], goldens: dict[str, Any], reference_dir: Path
) -> None:
    from PIL import Image

    from annotator.sam import SamPredictor, build_sam

    predictor = SamPredictor(build_sam(reference_dir / "sam_vit_small.pth", device="cpu"))
    image = np.asarray(Image.open(reference_dir / "chelsea.png").convert("RGB"))
    x = predictor.transform.apply_image(image)
    import torch

    x = predictor.model.preprocess(torch.as_tensor(x).permute(2, 0, 1)[None].float()).numpy()
    session = ort.InferenceSession(str(exports["sam_vit_small"] / "encoder.onnx"))
    (emb,) = session.run(None, {"image": x})
    assert np.abs(emb - goldens["sam_vit_small"]["chelsea/embedding"]).max() <= 1e-3


def test_cli_exits_with_code_2_and_a_clear_message_for_a_bad_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"this is not a checkpoint")
    result = subprocess.run(
        [sys.executable, "-m", "export_onnx", "--checkpoint", str(bad), "--out", str(tmp_path / "o")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert "cannot load SAM checkpoint" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "o" / "manifest.json").exists()


def test_manifest_is_valid_json_with_exporter_version(exports: dict[str, Path]) -> None:
    manifest = json.loads((exports["mobile_sam"] / "manifest.json").read_text())
    assert manifest["exporter"]["name"] == "export_onnx"
    assert manifest["model"]["type"] == "mobile_sam"
    assert len(manifest["model"]["checkpoint_sha256"]) == 64
