"""Image encoder parity (ViT and TinyViT) with the reference embeddings, and full predict()."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from annotator.sam import Sam, SamPredictor, embed_images

from .conftest import (
    EMBEDDING_ATOL,
    IOU_ATOL,
    PACK_IMAGES,
    PACK_MODELS,
    assert_mask_logits_match,
    reference_quirks,
)


@pytest.fixture(scope="session")
def encoded(
    pack_models: dict[str, Sam], pack_images: dict[str, np.ndarray]
) -> dict[tuple[str, str], SamPredictor]:
    predictors = {}
    for model in PACK_MODELS:
        for image in PACK_IMAGES:
            predictor = SamPredictor(pack_models[model])
            with reference_quirks(pack_models[model], model, image):
                predictor.set_image(pack_images[image])
            predictors[model, image] = predictor
    return predictors


@pytest.mark.parametrize("model", PACK_MODELS)
@pytest.mark.parametrize("image", PACK_IMAGES)
def test_set_image_embedding_matches_the_reference(
    model: str, image: str, encoded: dict[tuple[str, str], SamPredictor], goldens: dict[str, Any]
) -> None:
    predictor = encoded[model, image]
    gold = goldens[model]
    assert predictor.input_size == tuple(gold[f"{image}/input_size"])
    embedding = predictor.get_image_embedding()
    assert embedding.shape == (1, 256, 64, 64) and embedding.dtype == torch.float32
    np.testing.assert_allclose(
        embedding.numpy(), gold[f"{image}/embedding"], atol=EMBEDDING_ATOL, rtol=0
    )


@pytest.mark.parametrize("model", PACK_MODELS)
def test_predict_after_set_image_matches_the_reference_masks(
    model: str,
    encoded: dict[tuple[str, str], SamPredictor],
    goldens: dict[str, Any],
    reference_manifest: dict[str, Any],
) -> None:
    case = reference_manifest["models"][model]["images"]["rocket"]["cases"][0]
    masks, iou, _ = encoded[model, "rocket"].predict(
        point_coords=np.array(case["point_coords"]),
        point_labels=np.array(case["point_labels"]),
        multimask_output=case["multimask_output"],
        return_logits=True,
    )
    gold = goldens[model]
    assert_mask_logits_match(masks, gold[f"rocket/{case['name']}/mask_logits"])
    np.testing.assert_allclose(
        iou, gold[f"rocket/{case['name']}/iou_predictions"], atol=IOU_ATOL, rtol=0
    )


def test_embed_images_batches_images_of_different_sizes_like_set_image(
    pack_models: dict[str, Sam], pack_images: dict[str, np.ndarray], goldens: dict[str, Any]
) -> None:
    images = [pack_images["chelsea"], pack_images["rocket"]]
    embeddings, sizes = embed_images(
        pack_models["sam_vit_small"], images, batch_size=2, return_sizes=True
    )
    assert embeddings.shape == (2, 256, 64, 64)
    gold = goldens["sam_vit_small"]
    assert sizes == [tuple(gold["chelsea/input_size"]), tuple(gold["rocket/input_size"])]
    for i, name in enumerate(PACK_IMAGES):
        np.testing.assert_allclose(
            embeddings[i : i + 1].numpy(), gold[f"{name}/embedding"], atol=EMBEDDING_ATOL, rtol=0
        )


def test_mobile_sam_uses_its_trained_attention_biases_by_default(
    pack_models: dict[str, Sam], pack_images: dict[str, np.ndarray], goldens: dict[str, Any]
) -> None:
    model = pack_models["mobile_sam"]
    predictor = SamPredictor(model)
    predictor.set_image(pack_images["chelsea"])
    with_biases = predictor.get_image_embedding().clone()
    with reference_quirks(model, "mobile_sam", "chelsea"):
        predictor.set_image(pack_images["chelsea"])
    without = predictor.get_image_embedding()
    np.testing.assert_allclose(
        without.numpy(), goldens["mobile_sam"]["chelsea/embedding"], atol=EMBEDDING_ATOL, rtol=0
    )
    assert (with_biases - without).abs().max() > EMBEDDING_ATOL


def _attention_stages(model: Sam, name: str) -> list[tuple[torch.nn.Module, torch.Tensor]]:
    """One global and one windowed (padded) ViT block, or TinyViT's stages 2 and 3."""
    generator = torch.Generator().manual_seed(0)
    encoder = model.image_encoder
    if name == "sam_vit_small":
        tokens = torch.randn(1, 64, 64, 96, generator=generator)
        return [(encoder.blocks[0], tokens), (encoder.blocks[1], tokens)]
    return [
        (encoder.layers[2], torch.randn(1, 64 * 64, 160, generator=generator)),
        (encoder.layers[3], torch.randn(1, 64 * 64, 320, generator=generator)),
    ]


@pytest.mark.parametrize("model", PACK_MODELS)
def test_sdpa_attention_matches_the_explicit_softmax_attention(
    model: str, pack_models: dict[str, Sam]
) -> None:
    for stage, x in _attention_stages(pack_models[model], model):
        attention = [m for m in stage.modules() if hasattr(m, "use_sdpa")]
        default = [m.use_sdpa for m in attention]
        assert attention
        outputs = []
        try:
            for use_sdpa in (True, False):
                for m in attention:
                    m.use_sdpa = use_sdpa
                with torch.inference_mode():
                    outputs.append(stage(x))
        finally:
            for m, value in zip(attention, default, strict=True):
                m.use_sdpa = value
        torch.testing.assert_close(outputs[0], outputs[1], atol=1e-4, rtol=1e-5)


def test_autocast_dtype_is_ignored_on_cpu_so_embeddings_stay_exact(
    pack_models: dict[str, Sam],
    encoded: dict[tuple[str, str], SamPredictor],
    pack_images: dict[str, np.ndarray],
) -> None:
    predictor = SamPredictor(pack_models["sam_vit_small"], dtype=torch.bfloat16)
    predictor.set_image(pack_images["chelsea"])
    expected = encoded["sam_vit_small", "chelsea"].get_image_embedding()
    torch.testing.assert_close(predictor.get_image_embedding(), expected, atol=0, rtol=0)


def test_the_vit_encoder_exports_to_onnx_and_runs_the_same_in_onnx_runtime(
    pack_models: dict[str, Sam], tmp_path: Any
) -> None:
    import onnxruntime as ort

    encoder = pack_models["sam_vit_small"].image_encoder
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = encoder(x)
        torch.onnx.export(
            encoder, (x,), str(tmp_path / "encoder.onnx"), opset_version=17, dynamo=False
        )
    session = ort.InferenceSession(
        str(tmp_path / "encoder.onnx"), providers=["CPUExecutionProvider"]
    )
    (actual,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    np.testing.assert_allclose(actual, expected.numpy(), atol=1e-4, rtol=0)
