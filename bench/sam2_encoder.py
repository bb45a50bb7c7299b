"""SAM 2.1 `set_image` benchmark: annotator.sam2 vs Meta's reference, in one run.

    python bench/sam2_encoder.py --reference-python /tmp/venv-sam2ref/bin/python \
        --reference-src /tmp/sam2ref --torchvision-shim

The reference (Meta's `sam2` package source at the pack's commit, on PYTHONPATH) runs in a
worker subprocess of its own virtual environment (torch, hydra-core, iopath, pillow); this
package runs in-process. Both load the same checkpoint (the parity pack's mini model, and a
random-init `sam2.1_hiera_tiny` written to bench/out/), run `SAM2ImagePredictor.set_image` on
the same image in alternating rounds so that load on a shared machine hits both alike, and
report wall-clock medians, process CPU seconds, the ratios, and the max abs difference of the
fp32 `image_embed` and `high_res_feats`.

`--torchvision-shim`: PyPI's torchvision wheel is a CUDA build that cannot load beside the CPU
torch wheel of this machine, and `sam2` imports torchvision only for ToTensor, Resize and
Normalize. The shim supplies those three with torchvision's float-tensor semantics (the pack
README states them: ToTensor /255, bilinear antialiased resize to 1024², then normalise).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from annotator.sam2 import MODEL_REGISTRY, SAM2ImagePredictor, build_sam2, construct_sam2  # noqa: E402
from bench.common import LineWorker, time_set_image, timing_summary  # noqa: E402

WORKER = r"""
import json, sys, time
import numpy as np, torch
from PIL import Image
config, checkpoint, image_path, threads, overrides = sys.argv[1:6]
torch.set_num_threads(int(threads))
from sam2.build_sam import build_sam2
from sam2.sam2_image_predictor import SAM2ImagePredictor
model = build_sam2(config, checkpoint, device="cpu", hydra_overrides_extra=json.loads(overrides))
predictor = SAM2ImagePredictor(model)
image = np.array(Image.open(image_path).convert("RGB"))
print(json.dumps({"ready": torch.__version__}), flush=True)
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "run":
        start, cpu = time.perf_counter(), time.process_time()
        predictor.set_image(image)
        print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}), flush=True)
    elif command == "save":
        f = predictor._features
        np.savez(arg, image_embed=f["image_embed"].numpy(), s0=f["high_res_feats"][0].numpy(),
                 s1=f["high_res_feats"][1].numpy())
        print(json.dumps({"saved": arg}), flush=True)
    else:
        break
"""

SHIM = r"""
from typing import List
import numpy as np, torch
import torch.nn.functional as F
from torch import nn

class ToTensor:
    def __call__(self, pic):
        pic = np.asarray(pic)
        return torch.from_numpy(pic.transpose((2, 0, 1)).copy()).contiguous().float().div(255)

class Resize(nn.Module):
    def __init__(self, size: List[int]):
        super().__init__()
        self.size = [int(s) for s in size]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x[None], size=self.size, mode="bilinear", align_corners=False,
                             antialias=True)[0]

class Normalize(nn.Module):
    def __init__(self, mean: List[float], std: List[float]):
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=x.dtype).view(-1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype).view(-1, 1, 1)
        return x.sub(mean).div(std)
"""


class ReferenceWorker(LineWorker):
    """Meta's SAM2ImagePredictor (`WORKER`) in a subprocess."""

    def __init__(self, args: argparse.Namespace, workdir: Path, model: dict[str, Any]) -> None:
        script = workdir / "sam2_reference_worker.py"
        script.write_text(WORKER)
        paths = [args.reference_src]
        if args.torchvision_shim:
            package = workdir / "shim" / "torchvision" / "transforms"
            package.mkdir(parents=True, exist_ok=True)
            (package.parent / "__init__.py").write_text("")
            (package / "__init__.py").write_text(SHIM)
            paths.insert(0, str(workdir / "shim"))
        env = {**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": os.pathsep.join(paths)}
        command = [args.reference_python, str(script), model["config"], str(model["checkpoint"])]
        command += [str(args.image), str(args.threads), json.dumps(model["overrides"])]
        self.saved = workdir / "reference_features.npz"
        # Hydra resolves `configs/...` inside the sam2 package; run from the source folder.
        super().__init__(command, env=env, cwd=args.reference_src, close_timeout=120)

    def features(self) -> dict[str, np.ndarray]:
        self.send(f"save {self.saved}")
        return dict(np.load(self.saved))


def random_tiny_checkpoint(path: Path) -> Path:
    """A seeded random-init sam2.1_hiera_tiny in Meta's `{"model": state_dict}` format."""
    if not path.is_file():
        torch.manual_seed(0)
        state = construct_sam2(MODEL_REGISTRY["tiny"]).state_dict()
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"model": state}, path)
    return path


def bench_model(args: argparse.Namespace, model: dict[str, Any]) -> dict[str, Any]:
    image = np.array(Image.open(args.image).convert("RGB"))
    with tempfile.TemporaryDirectory() as tmp:
        reference = ReferenceWorker(args, Path(tmp), model)
        predictor = SAM2ImagePredictor(build_sam2(model["checkpoint"]))
        wall: dict[str, list[float]] = {"reference": [], "ours": []}
        cpu: dict[str, list[float]] = {"reference": [], "ours": []}
        try:
            reference.run()  # warm-up: allocator, oneDNN primitive caches
            time_set_image(predictor, image)
            for round_index in range(args.repeats):
                order = ["reference", "ours"] if round_index % 2 == 0 else ["ours", "reference"]
                for who in order:
                    seconds, cpu_seconds = (
                        reference.run() if who == "reference" else time_set_image(predictor, image)
                    )
                    wall[who].append(seconds)
                    cpu[who].append(cpu_seconds)
            ref = reference.features()
        finally:
            reference.close()
    features = predictor._features
    assert features is not None
    ours = {
        "image_embed": features["image_embed"].numpy(),
        "s0": features["high_res_feats"][0].numpy(),
        "s1": features["high_res_feats"][1].numpy(),
    }
    return {
        "model": model["name"],
        "reference_torch": reference.version,
        "ours_torch": torch.__version__,
        # Also the minima (`min`, `ratio_of_min`), as bench/encoder.py reports them.
        **timing_summary(wall, cpu),
        "max_abs_diff": {k: float(np.abs(ref[k] - ours[k]).max()) for k in ours},
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reference-python", required=True)
    parser.add_argument("--reference-src", required=True, help="folder holding Meta's sam2/")
    parser.add_argument("--torchvision-shim", action="store_true")
    parser.add_argument("--models", default="mini,tiny")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--pack",
        default=os.environ.get("SAM_REFERENCE_DIR", str(REPO.parent / "shared" / "reference"))
        + "/sam2",
    )
    parser.add_argument("--image", default=None, help="default: the pack's rocket.png (427x640)")
    parser.add_argument("--json", default=None, help="write the raw results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pack = Path(args.pack)
    args.image = Path(args.image) if args.image else pack / "rocket.png"
    manifest = json.loads((pack / "manifest.json").read_text())["models"]["sam2.1_hiera_mini"]
    models = {
        "mini": lambda: {
            "name": "sam2.1_hiera_mini (pack)",
            "config": manifest["base_config"],
            "checkpoint": pack / manifest["checkpoint"],
            # The pack's overrides minus the 3 that build_sam2(apply_postprocessing) adds itself.
            "overrides": manifest["hydra_overrides"][:-3],
        },
        "tiny": lambda: {
            "name": "sam2.1_hiera_tiny (random init)",
            "config": "configs/sam2.1/sam2.1_hiera_t.yaml",
            "checkpoint": random_tiny_checkpoint(REPO / "bench" / "out" / "sam2.1_tiny_seed0.pt"),
            "overrides": [],
        },
    }
    results = [bench_model(args, models[name]()) for name in args.models.split(",")]
    print(f"threads={args.threads}, image={args.image.name}, median of {args.repeats} rounds\n")
    print("| model | reference set_image | ours | ratio (wall) | ratio (CPU s) | max abs diff |")
    print("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        diff = ", ".join(f"{k} {v:.1e}" for k, v in r["max_abs_diff"].items())
        print(
            f"| {r['model']} | {r['median']['reference']:.3f} s | {r['median']['ours']:.3f} s "
            f"| **{r['ratio']:.2f}x** | {r['ratio_of_cpu']:.2f}x | {diff} |"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
