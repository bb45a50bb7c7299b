"""Variant registry, checkpoint resolution/download and loading of SAM models.

`build_sam("sam_vit_b")` resolves the official file in the cache directory (`SAM_CACHE_DIR`,
default `~/.cache/sam-annotator`), downloading it once with an md5 check; `build_sam(path)` loads
any checkpoint of the official structure, inferring the architecture when `model_type="auto"`.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import re
import tempfile
import urllib.request
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .image_encoder import ImageEncoderViT
from .mask_decoder import MaskDecoder
from .prompt_encoder import PromptEncoder
from .sam import Sam
from .tiny_vit import Attention as TinyAttention
from .tiny_vit import TinyViT
from .transformer import TwoWayTransformer

logger = logging.getLogger(__name__)

PROMPT_EMBED_DIM = 256
IMAGE_SIZE = 1024
VIT_PATCH_SIZE = 16


class CheckpointError(ValueError):
    """A checkpoint file exists but is not a loadable SAM state dict of the requested model."""


class CheckpointUnavailable(RuntimeError):
    """A checkpoint is missing and could not be downloaded; the message says what to fetch
    and where to put it."""

    def __init__(self, message: str, *, url: str | None = None, path: Path | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.path = path


# Architectures by registry name. "vit" entries configure `ImageEncoderViT`, "tiny_vit"
# entries `TinyViT`.
MODEL_REGISTRY: dict[str, dict[str, Any]] = {
    "vit_b": {
        "encoder": "vit",
        "embed_dim": 768,
        "depth": 12,
        "num_heads": 12,
        "global_attn_indexes": (2, 5, 8, 11),
        "window_size": 14,
    },
    "vit_l": {
        "encoder": "vit",
        "embed_dim": 1024,
        "depth": 24,
        "num_heads": 16,
        "global_attn_indexes": (5, 11, 17, 23),
        "window_size": 14,
    },
    "vit_h": {
        "encoder": "vit",
        "embed_dim": 1280,
        "depth": 32,
        "num_heads": 16,
        "global_attn_indexes": (7, 15, 23, 31),
        "window_size": 14,
    },
    "mobile_sam": {
        "encoder": "tiny_vit",
        "embed_dims": (64, 128, 160, 320),
        "depths": (2, 2, 6, 2),
        "num_heads": (2, 4, 5, 10),
        "window_sizes": (7, 7, 14, 7),
        "num_classes": 1000,
    },
}

# Official checkpoints. Only md5 digests are published (the SAM file names carry their first
# six hex digits); the sha256 is computed and logged on download.
KNOWN_CHECKPOINTS: dict[str, dict[str, Any]] = {
    "sam_vit_b": {
        "url": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_b_01ec64.pth",
        "filename": "sam_vit_b_01ec64.pth",
        "md5": "01ec64d29a2fca3f0661936605ae66f8",
        "model_type": "vit_b",
    },
    "sam_vit_l": {
        "url": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_l_0b3195.pth",
        "filename": "sam_vit_l_0b3195.pth",
        "md5": "0b3195507c641ddb6910d2bb5adee89c",
        "model_type": "vit_l",
    },
    "sam_vit_h": {
        "url": "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth",
        "filename": "sam_vit_h_4b8939.pth",
        "md5": "4b8939a88964f0f4ff5f5b2642c598a6",
        "model_type": "vit_h",
    },
    "mobile_sam": {
        "url": "https://github.com/ChaoningZhang/MobileSAM/raw/master/weights/mobile_sam.pt",
        "mirrors": ["https://github.com/Sanster/models/releases/download/MobileSAM/mobile_sam.pt"],
        "filename": "mobile_sam.pt",
        "md5": "f3c0d8cda613564d499310dab6c812cd",
        "model_type": "mobile_sam",
    },
}


# --------------------------------------------------------------------------- construction


def construct_sam(config: Mapping[str, Any], model_type: str = "custom") -> Sam:
    """Build an (uninitialised) `Sam` from an architecture config (a registry entry or the
    output of `infer_model_config`). Honours the ambient default device, so
    `with torch.device("meta"): construct_sam(...)` allocates nothing."""
    encoder: nn.Module
    if config["encoder"] == "vit":
        encoder = ImageEncoderViT(
            img_size=config.get("img_size", IMAGE_SIZE),
            patch_size=config.get("patch_size", VIT_PATCH_SIZE),
            embed_dim=config["embed_dim"],
            depth=config["depth"],
            num_heads=config["num_heads"],
            mlp_ratio=config.get("mlp_ratio", 4.0),
            out_chans=PROMPT_EMBED_DIM,
            window_size=config["window_size"],
            global_attn_indexes=tuple(config["global_attn_indexes"]),
        )
        embedding_side = config.get("img_size", IMAGE_SIZE) // config.get("patch_size", 16)
    elif config["encoder"] == "tiny_vit":
        encoder = TinyViT(
            img_size=IMAGE_SIZE,
            num_classes=config.get("num_classes", 1000),
            embed_dims=tuple(config["embed_dims"]),
            depths=tuple(config["depths"]),
            num_heads=tuple(config["num_heads"]),
            window_sizes=tuple(config["window_sizes"]),
            mlp_ratio=config.get("mlp_ratio", 4.0),
            mbconv_expand_ratio=config.get("mbconv_expand_ratio", 4.0),
        )
        embedding_side = IMAGE_SIZE // 16
    else:
        raise ValueError(f"unknown encoder kind {config['encoder']!r}")
    img_size = int(encoder.img_size)
    model = Sam(
        image_encoder=encoder,
        prompt_encoder=PromptEncoder(
            embed_dim=PROMPT_EMBED_DIM,
            image_embedding_size=(embedding_side, embedding_side),
            input_image_size=(img_size, img_size),
            mask_in_chans=16,
        ),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(
                depth=2, embedding_dim=PROMPT_EMBED_DIM, mlp_dim=2048, num_heads=8
            ),
            transformer_dim=PROMPT_EMBED_DIM,
            iou_head_depth=3,
            iou_head_hidden_dim=256,
        ),
        model_type=model_type,
        config=dict(config),
    )
    return model.eval()


def _count_indices(keys: list[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def infer_model_config(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Read the architecture off a state dict of the official SAM / MobileSAM structure.

    Works on real tensors or anything with a `.shape` (meta tensors, shape stubs).
    Raises `KeyError` when the keys are not of either structure.
    """
    keys = list(state_dict)

    def shape(key: str) -> tuple[int, ...]:
        return tuple(state_dict[key].shape)

    if "image_encoder.patch_embed.proj.weight" in state_dict:
        embed_dim, _, patch, _ = shape("image_encoder.patch_embed.proj.weight")
        grid = shape("image_encoder.pos_embed")[1]
        depth = _count_indices(keys, r"image_encoder\.blocks\.(\d+)\.")
        rel_len = [shape(f"image_encoder.blocks.{i}.attn.rel_pos_h")[0] for i in range(depth)]
        head_dim = shape("image_encoder.blocks.0.attn.rel_pos_h")[1]
        global_idx = tuple(i for i, n in enumerate(rel_len) if n == 2 * grid - 1)
        windowed = [n for n in rel_len if n != 2 * grid - 1]
        window_size = (windowed[0] + 1) // 2 if windowed else 14
        mlp_dim = shape("image_encoder.blocks.0.mlp.lin1.weight")[0]
        return {
            "encoder": "vit",
            "embed_dim": embed_dim,
            "depth": depth,
            "num_heads": embed_dim // head_dim,
            "global_attn_indexes": global_idx,
            "window_size": window_size,
            **({"patch_size": patch} if patch != VIT_PATCH_SIZE else {}),
            **({"img_size": grid * patch} if grid * patch != IMAGE_SIZE else {}),
            **({"mlp_ratio": mlp_dim / embed_dim} if mlp_dim != 4 * embed_dim else {}),
        }
    if "image_encoder.patch_embed.seq.0.c.weight" in state_dict:
        n_layers = _count_indices(keys, r"image_encoder\.layers\.(\d+)\.")
        embed_dims, depths, num_heads, window_sizes = [], [], [], []
        for i in range(n_layers):
            depth = _count_indices(keys, rf"image_encoder\.layers\.{i}\.blocks\.(\d+)\.")
            depths.append(depth)
            prefix = f"image_encoder.layers.{i}.blocks.0."
            if i == 0:
                embed_dims.append(shape(prefix + "conv1.c.weight")[1])
                expand = shape(prefix + "conv1.c.weight")[0] / embed_dims[0]
                # The convolutional first stage has no attention; every TinyViT config lists
                # width // 32 heads for it.
                num_heads.append(embed_dims[0] // 32)
                window_sizes.append(7)
                continue
            embed_dims.append(shape(prefix + "attn.norm.weight")[0])
            heads, n_offsets = shape(prefix + "attn.attention_biases")
            num_heads.append(heads)
            window_sizes.append(round(n_offsets**0.5))
        config: dict[str, Any] = {
            "encoder": "tiny_vit",
            "embed_dims": tuple(embed_dims),
            "depths": tuple(depths),
            "num_heads": tuple(num_heads),
            "window_sizes": tuple(window_sizes),
            "num_classes": shape("image_encoder.head.weight")[0],
        }
        if expand != 4.0:
            config["mbconv_expand_ratio"] = expand
        return config
    raise KeyError("no image_encoder.patch_embed weights of a ViT or TinyViT encoder")


def registry_name(config: Mapping[str, Any]) -> str | None:
    """The registry name whose architecture equals `config`, if any."""
    for name, entry in MODEL_REGISTRY.items():
        if all(_same(config.get(k), v) for k, v in entry.items()) and set(config) == set(entry):
            return name
    return None


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return tuple(a) == tuple(b)
    return bool(a == b)


# --------------------------------------------------------------------------- checkpoint files


def cache_dir() -> Path:
    """Where named checkpoints live: `$SAM_CACHE_DIR` or `~/.cache/sam-annotator`."""
    env = os.environ.get("SAM_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "sam-annotator"


def _file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_sha256(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file (read in 1 MiB chunks)."""
    return _file_digest(Path(path), "sha256")


def checkpoint_md5(path: str | os.PathLike[str]) -> str:
    """Hex md5 of a file, the digest published for the official checkpoints."""
    return _file_digest(Path(path), "md5")


def resolve_checkpoint(name_or_path: str | os.PathLike[str], download: bool = True) -> Path:
    """Path of a checkpoint given a file path or a known name (`KNOWN_CHECKPOINTS`).

    A known name maps to `cache_dir() / filename`; when that file is missing it is downloaded
    if `download`, otherwise `CheckpointUnavailable` says which URL to fetch and where to save it.
    Nothing is loaded. Raises `CheckpointUnavailable` for a path that does not exist.
    """
    name = str(name_or_path)
    if name in KNOWN_CHECKPOINTS:
        entry = KNOWN_CHECKPOINTS[name]
        target = cache_dir() / entry["filename"]
        if target.is_file():
            return target
        if not download:
            raise CheckpointUnavailable(
                _manual_download_message(name, target), url=entry["url"], path=target
            )
        return download_checkpoint(name, target)
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    known = ", ".join(sorted(KNOWN_CHECKPOINTS))
    raise CheckpointUnavailable(
        f"checkpoint {str(path)!r} does not exist and is not a known name ({known})", path=path
    )


def _manual_download_message(name: str, target: Path, reason: str = "") -> str:
    entry = KNOWN_CHECKPOINTS[name]
    why = f" ({reason})" if reason else ""
    return (
        f"checkpoint {name!r} is not available{why}. Download {entry['url']} and save it as "
        f"{target} (md5 {entry['md5']}), or set SAM_CACHE_DIR to a folder that holds "
        f"{entry['filename']}."
    )


def download_checkpoint(name: str, target: Path | None = None, timeout: float = 30.0) -> Path:
    """Download a known checkpoint to `target` (default: the cache dir), checking its md5.

    The file is written to a temporary file beside the target and renamed into place only
    once complete and verified, so an interrupted download never leaves a truncated checkpoint.
    The computed sha256 is logged (none is published). Raises `CheckpointUnavailable`.
    """
    from tqdm import tqdm

    entry = KNOWN_CHECKPOINTS[name]
    target = target or cache_dir() / entry["filename"]
    target.parent.mkdir(parents=True, exist_ok=True)
    errors = []
    for url in [entry["url"], *entry.get("mirrors", [])]:
        tmp = None
        try:
            md5, sha256 = hashlib.md5(), hashlib.sha256()
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
                total = int(response.headers.get("Content-Length") or 0) or None
                with (
                    tempfile.NamedTemporaryFile(
                        dir=target.parent, prefix=target.name + ".", suffix=".part", delete=False
                    ) as out,
                    tqdm(total=total, unit="B", unit_scale=True, desc=entry["filename"]) as bar,
                ):
                    tmp = Path(out.name)
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        md5.update(chunk)
                        sha256.update(chunk)
                        bar.update(len(chunk))
            if md5.hexdigest() != entry["md5"]:
                raise ValueError(f"md5 {md5.hexdigest()} != expected {entry['md5']}")
            os.replace(tmp, target)
            logger.info("downloaded %s to %s (sha256 %s)", url, target, sha256.hexdigest())
            return target
        except Exception as exc:  # any network or integrity failure: try the next URL
            errors.append(f"{url}: {exc}")
            if tmp is not None:
                tmp.unlink(missing_ok=True)
    raise CheckpointUnavailable(
        _manual_download_message(name, target, "download failed: " + "; ".join(errors)),
        url=entry["url"],
        path=target,
    )


def _unpickling_reason(exc: Exception) -> str:
    """The part of torch's refusal that names what the file wanted. torch's full message carries
    terminal colour codes and advises allowlisting the object, which is the wrong advice for a
    file that may be hostile and the wrong text for an API answer."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(exc))
    found = re.search(r"Unsupported global: GLOBAL (\S+)", text)
    if found:
        return f"it asks for {found.group(1)}"
    found = re.search(r"WeightsUnpickler error:\s*(\S[^\n]*)", text)
    if found:
        return found.group(1).strip()[:200]
    return type(exc).__name__


def load_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Read a state dict with `torch.load(weights_only=True)` (no arbitrary code runs).

    Accepts a raw state dict or `{"model": state_dict}` / `{"state_dict": state_dict}`.
    Raises `CheckpointError` naming the file for anything else.
    """
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path}: refused to load: the file is not a plain tensor checkpoint (it needs "
            f"objects that weights_only loading does not allow, which could run code): "
            f"{_unpickling_reason(exc)}"
        ) from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: not a readable PyTorch checkpoint (truncated or corrupt?): {exc}"
        ) from exc
    if isinstance(obj, Mapping):
        for wrapper in ("model", "state_dict"):
            if isinstance(obj.get(wrapper), Mapping):
                obj = obj[wrapper]
                break
    if not isinstance(obj, Mapping) or not obj:
        raise CheckpointError(f"{path}: expected a state dict, found {type(obj).__name__}")
    bad = [k for k, v in obj.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path}: not a state dict, non-tensor entries: {bad[:5]}")
    return dict(obj)


def _check_keys(model: nn.Module, state_dict: Mapping[str, torch.Tensor], path: Path | str) -> None:
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    mismatched = [
        f"{k}: {tuple(state_dict[k].shape)} != {expected[k]}"
        for k in expected
        if k in state_dict and tuple(state_dict[k].shape) != expected[k]
    ]
    if missing or unexpected or mismatched:
        raise CheckpointError(
            f"{path}: does not match the {getattr(model, 'model_type', 'model')} architecture: "
            f"{len(missing)} missing keys {missing[:5]}, {len(unexpected)} unexpected keys "
            f"{unexpected[:5]}, {len(mismatched)} shape mismatches {mismatched[:5]}"
        )


def build_sam(
    checkpoint: str | os.PathLike[str],
    model_type: str = "auto",
    device: str | torch.device | None = None,
) -> Sam:
    """Load a SAM model in eval mode.

    Arguments:
      checkpoint: a file path or a known name (`sam_vit_b`, `sam_vit_l`, `sam_vit_h`,
        `mobile_sam`), resolved and if needed downloaded by `resolve_checkpoint`.
      model_type: `vit_b`, `vit_l`, `vit_h`, `mobile_sam`, or `auto` to read the architecture
        off the checkpoint (any checkpoint of the official structure, any size).
      device: where to put the model (default: CUDA when available, else CPU).
    Raises:
      CheckpointUnavailable: the file is missing and cannot be downloaded.
      CheckpointError: the file is not a state dict of the requested architecture.
    """
    path = resolve_checkpoint(checkpoint)
    state_dict = load_state_dict(path)
    if model_type == "auto":
        try:
            config = infer_model_config(state_dict)
        except (KeyError, IndexError, ValueError) as exc:
            raise CheckpointError(
                f"{path}: not a SAM or MobileSAM checkpoint ({exc}); first keys: {list(state_dict)[:5]}"
            ) from exc
        model_type = registry_name(config) or f"custom_{config['encoder']}"
    elif model_type in MODEL_REGISTRY:
        config = dict(MODEL_REGISTRY[model_type])
    else:
        raise ValueError(
            f"unknown model_type {model_type!r}; use auto or one of {sorted(MODEL_REGISTRY)}"
        )
    with torch.device("meta"):
        model = construct_sam(config, model_type)
    _check_keys(model, state_dict, path)
    model = model.to_empty(device="cpu")
    _reset_non_persistent_buffers(model)
    model.load_state_dict(state_dict, strict=False)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval()


def _reset_non_persistent_buffers(model: Sam) -> None:
    """Buffers not in the checkpoint come out of `to_empty` uninitialised; rebuild them."""
    from .sam import PIXEL_MEAN, PIXEL_STD

    model.pixel_mean.copy_(torch.tensor(PIXEL_MEAN).view(-1, 1, 1))
    model.pixel_std.copy_(torch.tensor(PIXEL_STD).view(-1, 1, 1))
    for module in model.modules():
        if isinstance(module, TinyAttention):
            with torch.device("cpu"):
                fresh = TinyAttention(
                    module.norm.normalized_shape[0],
                    module.key_dim,
                    module.num_heads,
                    _window_of(module),
                )
            module.attention_bias_idxs = fresh.attention_bias_idxs
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf.is_meta:
                raise RuntimeError(f"buffer {name} of {type(module).__name__} left uninitialised")


def _window_of(module: TinyAttention) -> tuple[int, int]:
    n = module.attention_bias_idxs.shape[0]
    side = round(n**0.5)
    return (side, side)
