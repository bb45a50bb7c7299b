"""Hover atlas: bytes per image and compute time, to choose its grid and stored mask resolution.

    .venv/bin/python bench/atlas.py                     # everything (CPU: hours on 2 busy cores)
    .venv/bin/python bench/atlas.py --skip-models       # object-like masks only (~20 min on 2 busy cores)

Two kinds of masks:
- the pack models (random weights) on the pack and demo photos: the real decoder through the
  atlas code (`annotator.sam.atlas`); their masks are finely textured, a worst case for size;
- object-like masks with no model: each image is cut into regions (thresholded smooth random
  fields, and k-means colour segments of the photo itself; scikit-image is not installed, so
  no SLIC superpixels), and a cell's "decode" is the region under its centre as low-res logits
  (the region blurred by 1.5 low-res pixels, minus 0.5, minus a per-point jitter of up to 0.2),
  so neighbouring points on one object give masks that differ by a pixel at the edge, as a
  trained SAM's do. They go through the same resize and threshold as the decoder's logits.

Each atlas is encoded with the real format (export_onnx/atlas_format.py); other mask encodings
are measured on the same masks for comparison. Compute time is reported against the image
encoder's time on the same image in the same run. Agreement: mean IoU between the atlas mask of
a cell and the exact hover mask at random points inside that cell (for the pack models this
describes random weights, not SAM).
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from annotator.sam import Sam, SamPredictor, build_sam  # noqa: E402
from annotator.sam.atlas import (  # noqa: E402
    NO_MASK,
    HoverAtlas,
    cell_centres,
    decode_hover_logits,
    deduplicate,
    grid_shape,
    stored_logits,
)
from annotator.sam.transforms import ResizeLongestSide  # noqa: E402
from export_onnx.atlas_format import encode_atlas, mask_runs  # noqa: E402

REFERENCE = ROOT.parent / "shared" / "reference"
IMAGES = {
    "chelsea": REFERENCE / "chelsea.png",
    "rocket": REFERENCE / "rocket.png",
    "astronaut": ROOT / "annotator/demo_data/astronaut.png",
    "coffee": ROOT / "annotator/demo_data/coffee.png",
}
KEY = b"\x00" * 16


def load(name: str) -> np.ndarray:
    return np.array(Image.open(IMAGES[name]).convert("RGB"))


# --- Mask encodings compared with the format's bits + zlib ----------------------------------


def enc_bytes_zlib(masks: np.ndarray) -> int:
    return len(zlib.compress(masks.astype(np.uint8).tobytes(), 9))


def enc_bits_zlib(masks: np.ndarray) -> int:
    return len(zlib.compress(np.packbits(masks.reshape(len(masks), -1), axis=1).tobytes(), 9))


def enc_rle16_zlib(masks: np.ndarray) -> int:
    runs = []
    for m in masks.reshape(len(masks), -1):
        change = np.flatnonzero(np.diff(m.astype(np.int8))) + 1
        edges = np.concatenate([[0], change, [m.size]])
        lengths = np.diff(edges)
        # COCO convention: the first run counts zeros (possibly none).
        if m.size and m[0]:
            lengths = np.concatenate([[0], lengths])
        runs.append(np.minimum(lengths, 65535).astype("<u2"))
    return len(zlib.compress(np.concatenate(runs).tobytes() if runs else b"", 9))


def enc_png(masks: np.ndarray) -> int:
    if not len(masks):
        return 0
    stacked = masks.reshape(-1, masks.shape[2])
    buf = io.BytesIO()
    Image.fromarray(stacked).convert("1").save(buf, format="PNG", optimize=True)
    return len(buf.getvalue())


def atlas_bytes(atlas: HoverAtlas) -> int:
    return len(encode_atlas(atlas, model_key=KEY))


# --- Object-like masks -------------------------------------------------------------------------


def low_res_frame(size: tuple[int, int]) -> tuple[int, int]:
    """Low-res (256 grid) pixels the image covers: ceil(resized / 4)."""
    nh, nw = ResizeLongestSide.get_preprocess_shape(*size, 1024)
    return -(-nh // 4), -(-nw // 4)


def smooth_field_regions(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    lh, lw = low_res_frame(size)
    noise = rng.normal(size=(lh, lw)).astype(np.float32)
    field = cv2.GaussianBlur(noise, (0, 0), sigmaX=8)
    levels = np.quantile(field, [0.2, 0.4, 0.6, 0.8])
    return components(np.digitize(field, levels).astype(np.uint8))


def photo_regions(image: np.ndarray) -> np.ndarray:
    lh, lw = low_res_frame(image.shape[:2])
    small = cv2.resize(image, (lw, lh), interpolation=cv2.INTER_AREA)
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2LAB).reshape(-1, 3).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(0)
    _, labels, _ = cv2.kmeans(lab, 8, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    return components(cv2.medianBlur(labels.reshape(lh, lw).astype(np.uint8), 5))


def components(classes: np.ndarray) -> np.ndarray:
    """Connected regions of each class value -> one label map (0..R-1)."""
    out = np.zeros(classes.shape, np.int32)
    next_label = 0
    for value in np.unique(classes):
        n, comp = cv2.connectedComponents((classes == value).astype(np.uint8), connectivity=4)
        inside = comp > 0
        out[inside] = comp[inside] - 1 + next_label
        next_label += n - 1
    return out


def region_fields(
    model: Sam, regions: np.ndarray, size: tuple[int, int], mask_size: int
) -> np.ndarray:
    """Each region blurred by 1.5 low-res pixels, resized to the stored masks: (R, h, w)."""
    lh, lw = regions.shape
    out = []
    for chunk in np.array_split(np.arange(regions.max() + 1), max(1, (regions.max() + 1) // 32)):
        fields = np.zeros((len(chunk), 256, 256), np.float32)
        for i, r in enumerate(chunk):
            blurred = cv2.GaussianBlur((regions == r).astype(np.float32), (0, 0), sigmaX=1.5)
            fields[i, :lh, :lw] = blurred
            # Outside the image the decoder's logits are whatever; repeat the edge so that the
            # resize's taps across the crop border see the region, not an artificial edge.
            fields[i, lh:, :lw] = blurred[-1:]
            fields[i, :, lw:] = fields[i, :, lw - 1 : lw]
        out.append(stored_logits(model, torch.from_numpy(fields), size, mask_size).numpy())
    return np.concatenate(out)


def object_like_cells(
    regions: np.ndarray,
    stored: np.ndarray,
    size: tuple[int, int],
    grid: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-cell stored masks (cells, h, w) and stability for the region under each centre."""
    lh, lw = regions.shape
    centres = ResizeLongestSide(1024).apply_coords(cell_centres(size, grid), size) / 4
    cols = np.clip(centres[:, 0].astype(int), 0, lw - 1)
    rows = np.clip(centres[:, 1].astype(int), 0, lh - 1)
    fields = stored[regions[rows, cols]]
    # Interpolation preserves constants, so thresholding the resized field at 0.5 + jitter is
    # the same as resizing logits (field - 0.5 - jitter) and thresholding at 0.
    jitter = rng.uniform(-0.2, 0.2, size=len(fields)).astype(np.float32)[:, None, None]
    hi = (fields > 0.6 + jitter).sum((1, 2))
    lo = (fields > 0.4 + jitter).sum((1, 2))
    return fields > 0.5 + jitter, (hi / np.maximum(lo, 1)).astype(np.float32)


def object_like_agreement(
    atlas: HoverAtlas,
    regions: np.ndarray,
    stored: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    probes: int = 200,
) -> float:
    """Mean IoU of the cell's atlas mask and the exact (jittered) mask at random points."""
    h, w = size
    lh, lw = regions.shape
    xy = rng.uniform((0, 0), (w, h), size=(probes, 2))
    low = ResizeLongestSide(1024).apply_coords(xy, size) / 4
    region = regions[
        np.clip(low[:, 1].astype(int), 0, lh - 1), np.clip(low[:, 0].astype(int), 0, lw - 1)
    ]
    exact = stored[region] > (0.5 + rng.uniform(-0.2, 0.2, size=probes))[:, None, None]
    rows, cols = atlas.index.shape
    scores = []
    for (x, y), mask in zip(xy, exact, strict=True):
        k = atlas.index[int(y * rows / h), int(x * cols / w)]
        cell = atlas.masks[k] if k != NO_MASK else np.zeros_like(mask)
        union = np.count_nonzero(cell | mask)
        scores.append(np.count_nonzero(cell & mask) / union if union else 1.0)
    return float(np.mean(scores))


def bench_object_like(model: Sam, grids: list[int], sizes: list[int], dedups: list[float]) -> None:
    print("\n## Object-like masks: atlas bytes per image (KB = 1000 bytes), mean over images")
    print(f"images: {', '.join(IMAGES)}; sources: smooth random fields, photo colour segments")
    header = "| source | grid | mask px | unique masks (dedup 1.0) |"
    header += "".join(f" KB dedup {d} |" for d in dedups) + " max KB dedup 1.0 |"
    header += " IoU at random points |"
    encodings: dict[str, list[int]] = {
        "format": [], "masks only": [], "bits+zlib": [], "bytes+zlib": [], "rle16+zlib": [],
        "png": [],
    }  # fmt: skip
    kb: dict[tuple[str, int, int, float], list[float]] = {}
    uniques: dict[tuple[str, int, int], list[int]] = {}
    agreement: dict[tuple[str, int, int], list[float]] = {}
    for name in IMAGES:
        image = load(name)
        size = image.shape[:2]
        for source in ("fields", "photo"):
            if source == "fields":
                regions = smooth_field_regions(size, np.random.default_rng(7))
            else:
                regions = photo_regions(image)
            for mask_size in sizes:
                stored = region_fields(model, regions, size, mask_size)
                for grid in grids:
                    rng = np.random.default_rng(grid * 1000 + mask_size)
                    masks, stab = object_like_cells(regions, stored, size, grid, rng)
                    shape = grid_shape(size, grid)
                    for d in dedups:
                        atlas = deduplicate(masks, stab, stab, shape, size, dedup_iou=d)
                        kb.setdefault((source, grid, mask_size, d), []).append(
                            atlas_bytes(atlas) / 1000
                        )
                        if d != 1.0:
                            continue
                        agree = object_like_agreement(atlas, regions, stored, size, rng)
                        agreement.setdefault((source, grid, mask_size), []).append(agree)
                        uniques.setdefault((source, grid, mask_size), []).append(len(atlas.masks))
                        if grid == 32 and mask_size == 128:
                            encodings["format"].append(atlas_bytes(atlas))
                            runs = zlib.compress(mask_runs(atlas.masks), 9)
                            encodings["masks only"].append(len(runs))
                            encodings["bits+zlib"].append(enc_bits_zlib(atlas.masks))
                            encodings["bytes+zlib"].append(enc_bytes_zlib(atlas.masks))
                            encodings["rle16+zlib"].append(enc_rle16_zlib(atlas.masks))
                            encodings["png"].append(enc_png(atlas.masks))
    print(header)
    print("|---" * (6 + len(dedups)) + "|")
    for source, grid, mask_size in sorted(uniques):
        row = (
            f"| {source} | {grid} | {mask_size} | {np.mean(uniques[source, grid, mask_size]):.0f} |"
        )
        row += "".join(f" {np.mean(kb[source, grid, mask_size, d]):.1f} |" for d in dedups)
        row += f" {max(kb[source, grid, mask_size, 1.0]):.1f} |"
        print(row + f" {np.mean(agreement[source, grid, mask_size]):.3f} |")
    if encodings["format"]:
        print(
            "\nMask encodings (the format = varint runs + zlib), object-like, grid 32, 128 px, dedup 1.0 (bytes, all images and sources):"
        )
        for k, v in encodings.items():
            ratio = sum(v) / sum(encodings["masks only"])
            print(f"  {k:11s} {sum(v):9d}  ({ratio:.2f}x the format's masks)")


# --- Pack models ---------------------------------------------------------------------------------


def bench_models(
    grids: list[int], sizes: list[int], images: list[str], probes: int, batch: int
) -> None:
    print("\n## Pack models (random weights): the real decoder, CPU")
    print(
        "| model | image | grid | cells | atlas s | encoder s | atlas/encoder |"
        + "".join(f" KB {s}px |" for s in sizes)
        + " unique (128px) | KB 128px dedup 0.95 | IoU at random points |"
    )
    print("|---" * (10 + len(sizes)) + "|")
    for model_name in ("sam_vit_small", "mobile_sam"):
        model = build_sam(REFERENCE / f"{model_name}.pth", device="cpu")
        predictor = SamPredictor(model)
        for name in images:
            image = load(name)
            t0 = time.perf_counter()
            predictor.set_image(image)
            encoder_s = time.perf_counter() - t0
            embedding = predictor.get_image_embedding()
            for grid in grids:
                bench_one(model, embedding, image.shape[:2], grid, sizes, probes, batch,
                          f"| {model_name} | {name} |", encoder_s)  # fmt: skip


def bench_one(
    model: Sam,
    embedding: torch.Tensor,
    size: tuple[int, int],
    grid: int,
    sizes: list[int],
    probes: int,
    batch: int,
    prefix: str,
    encoder_s: float,
) -> None:
    transform = ResizeLongestSide(model.img_size)
    centres = cell_centres(size, grid)
    points = torch.as_tensor(transform.apply_coords(centres, size), dtype=torch.float32)
    ids = torch.zeros(len(points), dtype=torch.int64)
    t0 = time.perf_counter()
    lows, ious = [], []
    for start in range(0, len(points), batch):
        low, iou = decode_hover_logits(
            model, embedding, ids[start : start + batch], points[start : start + batch]
        )
        lows.append(low)
        ious.append(iou)
    low_res, iou_all = torch.cat(lows), torch.cat(ious).numpy()
    seconds = time.perf_counter() - t0
    shape = grid_shape(size, grid)
    row, atlas128 = [], None
    for mask_size in sizes:
        t1 = time.perf_counter()
        logits = stored_logits(model, low_res, size, mask_size)
        masks = (logits > 0).numpy()
        stab = _stability(logits)
        atlas = deduplicate(masks, iou_all, stab, shape, size)
        if mask_size == 128:
            # The atlas's time: the decodes plus the resize, dedup and encoding at 128 px.
            atlas_bytes(atlas)
            seconds += time.perf_counter() - t1
            atlas128 = atlas
            near = deduplicate(masks, iou_all, stab, shape, size, dedup_iou=0.95)
        row.append(atlas_bytes(atlas) / 1000)
    agreement = probe_agreement(model, embedding, size, grid, atlas128, probes) if probes else 0
    assert atlas128 is not None
    print(
        f"{prefix} {grid} | {len(points)} | {seconds:.1f} | {encoder_s:.1f} | "
        f"{seconds / encoder_s:.0f}x |"
        + "".join(f" {kb:.0f} |" for kb in row)
        + f" {len(atlas128.masks)} | {atlas_bytes(near) / 1000:.0f} | {agreement:.2f} |",
        flush=True,
    )


def _stability(logits: torch.Tensor) -> np.ndarray:
    hi = (logits > 1.0).sum((1, 2)).float()
    lo = (logits > -1.0).sum((1, 2)).float()
    return torch.nan_to_num(hi / lo, nan=0.0).numpy()


def probe_agreement(
    model: Sam,
    embedding: torch.Tensor,
    size: tuple[int, int],
    grid: int,
    atlas: HoverAtlas,
    probes: int,
) -> float:
    """Mean IoU (at 128 px) of the cell's atlas mask and the exact mask at random points."""
    rng = np.random.default_rng(grid)
    h, w = size
    xy = rng.uniform((0, 0), (w, h), size=(probes, 2))
    points = torch.as_tensor(ResizeLongestSide(1024).apply_coords(xy, size), dtype=torch.float32)
    low, _ = decode_hover_logits(model, embedding, torch.zeros(probes, dtype=torch.int64), points)
    exact = (stored_logits(model, low, size, 128) > 0).numpy()
    rows, cols = atlas.index.shape
    scores = []
    for (x, y), mask in zip(xy, exact, strict=True):
        k = atlas.index[int(y * rows / h), int(x * cols / w)]
        cell = atlas.masks[k] if k != NO_MASK else np.zeros_like(mask)
        union = np.count_nonzero(cell | mask)
        scores.append(np.count_nonzero(cell & mask) / union if union else 1.0)
    return float(np.mean(scores))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--grids", type=int, nargs="+", default=[16, 32, 48, 64])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 96, 128, 256])
    parser.add_argument("--dedup", type=float, nargs="+", default=[1.0, 0.98, 0.95, 0.9])
    parser.add_argument("--model-grids", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--model-images", nargs="+", default=["chelsea", "rocket"])
    parser.add_argument("--probes", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--skip-models", action="store_true")
    parser.add_argument("--skip-object-like", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    if not args.skip_object_like:
        model = build_sam(REFERENCE / "sam_vit_small.pth", device="cpu")
        bench_object_like(model, args.grids, args.sizes, args.dedup)
    if not args.skip_models:
        bench_models(args.model_grids, args.sizes, args.model_images, args.probes, args.batch)


if __name__ == "__main__":
    main()
