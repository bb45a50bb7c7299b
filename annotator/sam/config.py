"""Architecture configs read off a state dict, so that any checkpoint of the official SAM or
MobileSAM structure loads without being told its variant (`build_sam(..., model_type="auto")`).

A config is the dict `build.construct_sam` takes: ``"encoder"`` (``"vit"`` for `ImageEncoderViT`,
``"tiny_vit"`` for `TinyViT`) and that encoder's hyper-parameters, the same keys as the entries
of `build.MODEL_REGISTRY`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

PROMPT_EMBED_DIM = 256
IMAGE_SIZE = 1024
VIT_PATCH_SIZE = 16


def _shape(state_dict: Mapping[str, Any], key: str) -> tuple[int, ...]:
    return tuple(state_dict[key].shape)


def _count_indices(keys: list[str], pattern: str) -> int:
    found = {int(m.group(1)) for k in keys if (m := re.match(pattern, k))}
    return max(found) + 1 if found else 0


def infer_model_config(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    """Read the architecture off a state dict of the official SAM / MobileSAM structure.

    Works on real tensors or anything with a `.shape` (meta tensors, shape stubs).
    Raises `KeyError` when the keys are not of either structure.
    """
    if "image_encoder.patch_embed.proj.weight" in state_dict:
        return _vit_config(state_dict)
    if "image_encoder.patch_embed.seq.0.c.weight" in state_dict:
        return _tiny_vit_config(state_dict)
    raise KeyError("no image_encoder.patch_embed weights of a ViT or TinyViT encoder")


def _vit_config(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    keys = list(state_dict)
    shape = functools.partial(_shape, state_dict)
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


def _tiny_vit_config(state_dict: Mapping[str, Any]) -> dict[str, Any]:
    keys = list(state_dict)
    shape = functools.partial(_shape, state_dict)
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
