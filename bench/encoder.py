"""Image-encoder benchmark: this package vs the reference implementation, in one run.

    python bench/encoder.py --reference-python .venv-bench/bin/python

The reference (Meta's `segment-anything`, and the `mobile_sam` package for MobileSAM) runs in
a worker subprocess of its own virtual environment; this package runs in-process. Both load the
same checkpoint (a seeded random full-size ViT-B written to bench/out/, the parity pack's
MobileSAM), encode the same image with `SamPredictor.set_image`, and are timed in alternating
rounds so that load on a shared machine hits both alike. Prints a markdown table of wall-clock
median and minimum seconds, process CPU seconds (steadier than wall time when other jobs share
the cores), the speed-up ratios and the max abs difference of the embeddings.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from annotator.sam import SamPredictor, build_sam  # noqa: E402
from annotator.sam.build import MODEL_REGISTRY, construct_sam  # noqa: E402
from bench.common import REFERENCE, LineWorker, time_set_image, timing_summary  # noqa: E402

WORKER = r"""
import json, sys, time
import numpy as np, torch
from PIL import Image
model_type, checkpoint, image_path, threads = sys.argv[1:5]
torch.set_num_threads(int(threads))
if model_type == "mobile_sam":
    from mobile_sam import SamPredictor, sam_model_registry
    model = sam_model_registry["vit_t"](checkpoint=checkpoint)
else:
    from segment_anything import SamPredictor, sam_model_registry
    model = sam_model_registry[model_type](checkpoint=checkpoint)
# Called after loading, as MobileSAM's README does: refreshes TinyViT's attention-bias cache.
model.eval()
predictor = SamPredictor(model)
image = np.array(Image.open(image_path).convert("RGB"))
print(json.dumps({"ready": torch.__version__}), flush=True)
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "run":
        start, cpu = time.perf_counter(), time.process_time()
        predictor.set_image(image)
        elapsed = time.perf_counter() - start
        print(json.dumps({"seconds": elapsed, "cpu": time.process_time() - cpu}), flush=True)
    elif command == "save":
        np.save(arg, predictor.features.numpy())
        print(json.dumps({"saved": arg}), flush=True)
    else:
        break
"""


class ReferenceWorker(LineWorker):
    """The reference implementation (`WORKER`) in a subprocess."""

    def __init__(
        self, python: str, model_type: str, checkpoint: Path, image: Path, threads: int
    ) -> None:
        self.script = Path(tempfile.mkstemp(suffix="_sam_reference_worker.py")[1])
        self.script.write_text(WORKER)
        super().__init__(
            [python, str(self.script), model_type, str(checkpoint), str(image), str(threads)],
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )

    def embedding(self) -> np.ndarray:
        path = self.script.with_suffix(".npy")
        self.send(f"save {path}")
        return np.load(path)

    def close(self) -> None:
        super().close()
        self.script.unlink(missing_ok=True)
        self.script.with_suffix(".npy").unlink(missing_ok=True)


def random_vit_b_checkpoint(path: Path) -> Path:
    """A seeded random ViT-B SAM state dict; zero-initialised tensors get noise so they matter."""
    if path.is_file():
        return path
    torch.manual_seed(0)
    model = construct_sam(MODEL_REGISTRY["vit_b"], "vit_b")
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if "pos_embed" in name or "rel_pos" in name:
                tensor.normal_(0.0, 0.02)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def onnxruntime_encoder(model: torch.nn.Module, path: Path, threads: int) -> Any:
    """Export our image encoder to ONNX (measurement only; export_onnx/ owns shipped exports)
    and open it in an ONNX Runtime CPU session."""
    import onnxruntime as ort

    example = torch.zeros(1, 3, 1024, 1024)
    with torch.inference_mode(False), torch.no_grad():
        torch.onnx.export(
            model,
            (example,),
            str(path),
            opset_version=17,
            dynamo=False,
            input_names=["image"],
            output_names=["embedding"],
        )
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def time_onnxruntime(
    session: Any, predictor: SamPredictor, image: np.ndarray
) -> tuple[tuple[float, float], np.ndarray]:
    """set_image's work (resize, normalise, pad, encode) with the encoder in ONNX Runtime."""
    start, cpu = time.perf_counter(), time.process_time()
    resized = predictor.transform.apply_image(image)
    pixels = torch.as_tensor(resized).permute(2, 0, 1)[None].float()
    embedding = session.run(None, {"image": predictor.model.preprocess(pixels).numpy()})[0]
    return (time.perf_counter() - start, time.process_time() - cpu), embedding


def set_attention_paths(model: torch.nn.Module, use_sdpa: bool | list[bool]) -> list[bool]:
    """Set every attention module's `use_sdpa`; returns the previous values."""
    modules = [m for m in model.modules() if hasattr(m, "use_sdpa")]
    previous = [bool(m.use_sdpa) for m in modules]
    values = use_sdpa if isinstance(use_sdpa, list) else [use_sdpa] * len(modules)
    for module, value in zip(modules, values, strict=True):
        module.use_sdpa = value
    return previous


def bench_model(
    args: argparse.Namespace, model_type: str, checkpoint: Path, image_path: Path
) -> dict[str, Any]:
    image = np.array(Image.open(image_path).convert("RGB"))
    reference = ReferenceWorker(
        args.reference_python, model_type, checkpoint, image_path, args.threads
    )
    predictor = SamPredictor(build_sam(checkpoint, device="cpu"))
    kinds = ("reference", "ours", "ours_naive", "ours_onnxruntime")
    wall: dict[str, list[float]] = {k: [] for k in kinds}
    cpu: dict[str, list[float]] = {k: [] for k in kinds}
    session = None
    if args.onnxruntime:
        onnx_path = REPO / "bench" / "out" / f"encoder_{model_type}.onnx"
        onnx_path.parent.mkdir(parents=True, exist_ok=True)
        session = onnxruntime_encoder(predictor.model.image_encoder, onnx_path, args.threads)
        time_onnxruntime(session, predictor, image)  # warm-up

    def record(who: str, measured: tuple[float, float]) -> None:
        wall[who].append(measured[0])
        cpu[who].append(measured[1])

    try:
        reference.run()  # warm-up: allocator, oneDNN primitive caches
        time_set_image(predictor, image)
        for round_index in range(args.repeats):
            order = ["reference", "ours"] if round_index % 2 == 0 else ["ours", "reference"]
            for who in order:
                record(
                    who, reference.run() if who == "reference" else time_set_image(predictor, image)
                )
            if session is not None:
                measured, ort_embedding = time_onnxruntime(session, predictor, image)
                record("ours_onnxruntime", measured)
        ref_embedding = reference.embedding()
        ours_embedding = predictor.get_image_embedding().numpy()
        if args.naive:
            default = set_attention_paths(predictor.model, False)
            for _ in range(max(1, args.repeats // 2)):
                record("ours_naive", time_set_image(predictor, image))
            set_attention_paths(predictor.model, default)
    finally:
        reference.close()
    return {
        "model": model_type,
        "reference_torch": reference.version,
        "ours_torch": torch.__version__,
        **timing_summary(wall, cpu),
        "max_abs_diff": float(np.abs(ref_embedding - ours_embedding).max()),
        **(
            {"onnxruntime_max_abs_diff": float(np.abs(ref_embedding - ort_embedding).max())}
            if session is not None
            else {}
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference-python", default=str(REPO / ".venv-bench" / "bin" / "python"))
    parser.add_argument("--models", default="vit_b,mobile_sam")
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--reference-dir",
        default=str(REFERENCE),
    )
    parser.add_argument("--image", default=None, help="default: the pack's rocket.png (427x640)")
    parser.add_argument(
        "--naive", action="store_true", help="also time our explicit-softmax attention path"
    )
    parser.add_argument(
        "--onnxruntime",
        action="store_true",
        help="also time our encoder exported to ONNX and run in ONNX Runtime (CPU)",
    )
    parser.add_argument("--json", default=None, help="write the raw results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    reference_dir = Path(args.reference_dir)
    image_path = Path(args.image) if args.image else reference_dir / "rocket.png"
    checkpoints = {
        "vit_b": lambda: random_vit_b_checkpoint(
            REPO / "bench" / "out" / "sam_vit_b_random_seed0.pth"
        ),
        "mobile_sam": lambda: reference_dir / "mobile_sam.pth",
    }
    results = []
    for model_type in args.models.split(","):
        result = bench_model(args, model_type, checkpoints[model_type](), image_path)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if "times" not in k}), flush=True)

    print(
        f"\nCPU fp32, {args.threads} threads, image {image_path.name}, {args.repeats} alternating rounds\n"
    )
    print(
        "| model | reference set_image s (median / min) | ours s (median / min) "
        "| speed-up (median / min) | CPU s ref / ours (median) | speed-up in CPU time "
        "| ours, other attention path s (median) | max abs diff |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        naive = f"{r['median']['ours_naive']:.2f}" if "ours_naive" in r["median"] else "-"
        print(
            f"| {r['model']} | {r['median']['reference']:.2f} / {r['min']['reference']:.2f} "
            f"| {r['median']['ours']:.2f} / {r['min']['ours']:.2f} "
            f"| {r['ratio']:.2f}x / {r['ratio_of_min']:.2f}x "
            f"| {r['cpu_median']['reference']:.2f} / {r['cpu_median']['ours']:.2f} "
            f"| {r['ratio_of_cpu']:.2f}x | {naive} | {r['max_abs_diff']:.2e} |"
        )
    for r in results:
        if "ours_onnxruntime" in r["median"]:
            print(
                f"\n{r['model']} with the encoder in ONNX Runtime: wall median / min "
                f"{r['median']['ours_onnxruntime']:.2f} / {r['min']['ours_onnxruntime']:.2f} s, "
                f"CPU median {r['cpu_median']['ours_onnxruntime']:.2f} s = "
                f"{r['cpu_median']['reference'] / r['cpu_median']['ours_onnxruntime']:.2f}x the "
                f"reference in CPU time, max abs diff {r['onnxruntime_max_abs_diff']:.2e}"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
