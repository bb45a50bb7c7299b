"""The decoder worker in headless Chromium gives the same masks as the Python runtime."""

from __future__ import annotations

import base64
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from export_onnx import wire
from export_onnx.devserver import DevServer
from export_onnx.runtime import OnnxDecoder, upsample_logits
from tests.conftest import REPO_ROOT
from tests.export_onnx.conftest import MODELS, iou, manifest_cases

pytestmark = pytest.mark.browser
HARNESS = Path(__file__).parent / "harness"


@pytest.fixture(scope="session")
def decoder_dist() -> Path:
    """frontend/dist with the decoder worker, built here (the build takes about a second)."""
    if shutil.which("npm") is None:
        pytest.fail("node/npm not found: the decoder worker cannot be built (install nodejs)")
    subprocess.run(["npm", "run", "build"], cwd=REPO_ROOT / "frontend", check=True,
                   capture_output=True, timeout=300)  # fmt: skip
    dist = REPO_ROOT / "frontend" / "dist"
    assert (dist / "decoder" / "worker.js").is_file(), "build did not produce decoder/worker.js"
    return dist


@pytest.fixture(scope="module", params=MODELS)
def harness(
    request: pytest.FixtureRequest,
    browser: Any,
    decoder_dist: Path,
    exports: dict[str, Path],
    goldens: dict[str, Any],
    reference_manifest: dict[str, Any],
    tmp_path_factory: Any,
) -> Iterator[tuple[str, Any, Any]]:
    model = request.param
    data = tmp_path_factory.mktemp(f"wire_{model}")
    g = goldens[model]
    for img, info in reference_manifest["models"][model]["images"].items():
        size = (info["height"], info["width"])
        (data / f"{img}.bin").write_bytes(
            wire.encode_embedding(g[f"{img}/embedding"], original_size=size)
        )
    foreign = np.zeros((1, 256, 64, 64), np.float32)
    (data / "foreign.bin").write_bytes(wire.encode_embedding(foreign, model_key=b"\x01" * 16))
    mounts = {"/dist/": decoder_dist, "/export/": exports[model], "/harness/": HARNESS,
              "/data/": data}  # fmt: skip
    with DevServer(mounts) as server:
        context = browser.new_context()
        page = context.new_page()
        page.goto(f"{server.url}/harness/index.html")
        page.wait_for_function("window.harness !== undefined")
        yield model, page, data
        context.close()


def _b64(array: np.ndarray, dtype: Any) -> np.ndarray:
    return np.frombuffer(base64.b64decode(array), dtype=dtype)


def _decode_in_both(
    page: Any,
    decoder: OnnxDecoder,
    prepared: Any,
    img: str,
    case: dict[str, Any],
    size: tuple[int, int],
    mask_input: np.ndarray | None,
) -> tuple[dict[str, Any], np.ndarray, np.ndarray, int]:
    """Decode a pack case in the browser's worker and in Python onnxruntime; checks that both
    choose the same mask with the same low-res logits. Returns the worker's reply and Python's
    masks, low-res logits and chosen index."""
    prompt = {
        "id": img,
        "points": case.get("point_coords", []),
        "labels": case.get("point_labels", []),
        "box": case.get("box"),
        "multimask": case["multimask_output"],
        "maskInput": None if mask_input is None else base64.b64encode(
            mask_input.tobytes()).decode(),
    }  # fmt: skip
    got = page.evaluate("([p]) => harness.decode(p)", [prompt])
    assert got["type"] == "decoded", (case["name"], got)
    masks, scores, low = decoder.predict(
        case.get("point_coords"), case.get("point_labels"), case.get("box"),
        mask_input, case["multimask_output"], size, image=prepared,
    )  # fmt: skip
    chosen = int(np.argmax(scores)) if case["multimask_output"] else 0
    assert got["chosen"] == chosen + (1 if case["multimask_output"] else 0), case["name"]
    browser_low = _b64(got["lowRes"], np.float32).reshape(256, 256)
    assert np.abs(browser_low - low[chosen]).max() <= 1e-3 * max(1, np.abs(low).max())
    return got, masks, low, chosen


def test_worker_runs_multithreaded_in_a_cross_origin_isolated_page(harness: Any) -> None:
    _, page, _ = harness
    info = page.evaluate("harness.load('/export/manifest.json')")
    assert info["crossOriginIsolated"] is True
    cores = page.evaluate("navigator.hardwareConcurrency")
    assert info["numThreads"] == min(4, cores)


def test_browser_masks_match_python_runtime_for_every_case(
    harness: Any,
    exports: dict[str, Path],
    goldens: dict[str, Any],
    reference_manifest: dict[str, Any],
) -> None:
    model, page, data = harness
    page.evaluate("harness.load('/export/manifest.json')")
    g = goldens[model]
    decoder = OnnxDecoder(exports[model])
    images = reference_manifest["models"][model]["images"]
    for img, info in images.items():
        size = (info["height"], info["width"])
        page.evaluate(f"harness.embed('{img}', '/data/{img}.bin')")
        prepared = decoder.prepare((data / f"{img}.bin").read_bytes())
        for case_img, case in manifest_cases(reference_manifest, model):
            if case_img != img:
                continue
            mask_input = None
            if case.get("use_mask_input_from"):
                mask_input = g[f"{img}/{model}/{case['name']}/mask_input"].astype(np.float32)
            got, masks, low, chosen = _decode_in_both(
                page, decoder, prepared, img, case, size, mask_input
            )
            full = page.evaluate(
                "([id, low, size]) => harness.fullmask(id, low, size)", [img, got["lowRes"], size]
            )
            browser_mask = _b64(full, np.uint8).reshape(size).astype(bool)
            python_mask = upsample_logits(low[chosen : chosen + 1], size)[0] > 0
            assert iou(browser_mask, python_mask) >= 0.99, case["name"]
            assert iou(browser_mask, masks[chosen]) >= 0.99, case["name"]


def test_latest_decode_wins_and_stale_ones_are_dropped(harness: Any) -> None:
    _, page, _ = harness
    page.evaluate("harness.load('/export/manifest.json')")
    page.evaluate("harness.embed('chelsea', '/data/chelsea.bin')")
    prompts = [
        {"id": "chelsea", "points": [[10 + 20 * i, 30]], "labels": [1], "multimask": True}
        for i in range(6)
    ]
    replies = page.evaluate("([ps]) => harness.burst(ps)", [prompts])
    assert replies[-1]["type"] == "decoded"
    assert any(r["type"] == "dropped" for r in replies[1:-1])
    assert [r["seq"] for r in replies] == sorted(r["seq"] for r in replies)


def test_worker_refuses_an_embedding_of_another_checkpoint(harness: Any) -> None:
    _, page, _ = harness
    page.evaluate("harness.load('/export/manifest.json')")
    message = page.evaluate(
        "harness.embed('x', '/data/foreign.bin').then(() => 'accepted', (e) => e.message)"
    )
    assert "another model" in message


# SwiftShader's software Vulkan gives headless Chromium a WebGPU adapter without a GPU: far too
# slow to time (seconds per decode), but the same WebGPU execution provider and shaders that a
# labeler's GPU runs, so the masks it gives can be checked here.
WEBGPU_ARGS = [
    "--enable-unsafe-webgpu",
    "--use-webgpu-adapter=swiftshader",
    "--enable-features=Vulkan",
]


@pytest.mark.slow
def test_the_worker_prefers_webgpu_when_there_is_an_adapter_and_its_masks_are_the_same(
    browser: Any,
    decoder_dist: Path,
    exports: dict[str, Path],
    goldens: dict[str, Any],
    reference_manifest: dict[str, Any],
    tmp_path: Path,
) -> None:
    from tests.conftest import CHROMIUM, CHROMIUM_ARGS

    model, img = "sam_vit_small", "chelsea"
    info = reference_manifest["models"][model]["images"][img]
    size = (info["height"], info["width"])
    blob = wire.encode_embedding(goldens[model][f"{img}/embedding"], original_size=size)
    (tmp_path / f"{img}.bin").write_bytes(blob)
    decoder = OnnxDecoder(exports[model])
    prepared = decoder.prepare(blob)
    args = [a for a in CHROMIUM_ARGS if a != "--disable-gpu"] + WEBGPU_ARGS
    gpu_browser = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=args)
    mounts = {"/dist/": decoder_dist, "/export/": exports[model], "/harness/": HARNESS,
              "/data/": tmp_path}  # fmt: skip
    try:
        with DevServer(mounts) as server:
            page = gpu_browser.new_page()
            page.goto(f"{server.url}/harness/index.html")
            page.wait_for_function("window.harness !== undefined")
            # No providers named: the worker asks for an adapter and, given one, puts WebGPU
            # first (wasm takes the few nodes WebGPU lacks).
            loaded = page.evaluate("harness.load('/export/manifest.json')")
            assert loaded["executionProviders"] == ["webgpu", "wasm"]
            page.evaluate(f"harness.embed('{img}', '/data/{img}.bin')")
            cases = {c["name"]: c for c in info["cases"]}
            for name in ("point_multimask", "box_only"):
                got, _, low, chosen = _decode_in_both(
                    page, decoder, prepared, img, cases[name], size, None
                )
                browser_low = _b64(got["lowRes"], np.float32).reshape(256, 256)
                assert iou(browser_low > 0, low[chosen] > 0) >= 0.999, name
    finally:
        gpu_browser.close()
