"""Tiny random SAM 3, OWLv2 and Grounding DINO, with their processors, built here (no download).

Each ``save_*`` writes model + processor with ``save_pretrained`` into a folder, which the code
under test then loads as a local folder, the same way as a model from the Hugging Face cache.
The tokenizers are real ``CLIPTokenizer`` / ``BertTokenizer`` over small vocabularies written
here; the architectures are the real ones at small sizes (after transformers' own model tests).
``full=True`` keeps every architecture default (full size, random weights) for the bench.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

WORDS = ["cup", "dog", "cat", "red", "mug", "a", "blue", "car", "person", "chair", "table"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP byte-level alphabet: every byte as a printable character."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs], strict=True))


def clip_tokenizer(model_max_length: int) -> Any:
    """A CLIP BPE tokenizer: every byte, every byte ending a word, and merges for ``WORDS``."""
    from transformers import CLIPTokenizer

    chars = list(bytes_to_unicode().values())
    vocab_list = chars + [c + "</w>" for c in chars]
    merges: list[tuple[str, str]] = []
    for word in WORDS:
        # Left-to-right merges: c u -> cu, then cu p</w> -> cup</w>.
        pieces = list(word[:-1]) + [word[-1] + "</w>"]
        while len(pieces) > 1:
            merges.append((pieces[0], pieces[1]))
            pieces = [pieces[0] + pieces[1], *pieces[2:]]
            if pieces[0] not in vocab_list:
                vocab_list.append(pieces[0])
    vocab_list += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {token: i for i, token in enumerate(vocab_list)}
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)


def bert_tokenizer() -> Any:
    """An uncased WordPiece tokenizer with BERT's ids for [CLS], [SEP] and '.', which Grounding
    DINO's text masks look for by id."""
    from transformers import BertTokenizer

    specials = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103, ".": 1012}
    specials["?"] = 1029
    words = iter(WORDS + [chr(c) for c in range(ord("a"), ord("z") + 1)])
    vocab: dict[str, int] = {}
    for i in range(1040):
        token = next((t for t, j in specials.items() if j == i), None)
        vocab[token or next(words, f"[unused{i}]")] = i
    return BertTokenizer(vocab=vocab)


def _image_processor(name: str, **kwargs: Any) -> Any:
    """The torchvision image processor, or its PIL twin where torchvision is not installed."""
    import transformers

    try:
        return getattr(transformers, name)(**kwargs)
    except ImportError:
        return getattr(transformers, name + "Pil")(**kwargs)


def save_sam3(folder: Path, *, full: bool = False, seed: int = 0) -> Path:
    model, processor = build_sam3(full=full, seed=seed)
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def build_sam3(*, full: bool = False, seed: int = 0) -> tuple[Any, Any]:
    """(Sam3Model, Sam3Processor) with random weights."""
    from transformers import Sam3Config, Sam3ImageProcessor, Sam3Model, Sam3Processor

    torch.manual_seed(seed)
    tokenizer = clip_tokenizer(32)
    n_vocab = len(tokenizer)
    ids = {"bos_token_id": n_vocab - 2, "eos_token_id": n_vocab - 1, "pad_token_id": n_vocab - 1}
    if full:
        config = Sam3Config(text_config={"vocab_size": 49408, **ids})
        size = 1008
    else:
        size = 224
        heads = 4
        config = Sam3Config(
            vision_config={
                "backbone_config": {
                    "model_type": "sam3_vit_model",
                    "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": heads,
                    "intermediate_size": 64, "image_size": size, "patch_size": 14,
                    "window_size": 8, "global_attn_indexes": [0, 1],
                },
                "fpn_hidden_size": 32,
                "scale_factors": [2.0, 1.0],
            },
            text_config={
                "vocab_size": n_vocab, "hidden_size": 32, "intermediate_size": 64,
                "projection_dim": 32, "num_hidden_layers": 2, "num_attention_heads": heads,
                "max_position_embeddings": 32, "hidden_act": "gelu", **ids,
            },
            geometry_encoder_config={
                "hidden_size": 32, "num_layers": 1, "num_attention_heads": heads,
                "intermediate_size": 64, "mask_fuser_hidden_size": 32, "mask_fuser_num_layers": 1,
            },
            detr_encoder_config={
                "hidden_size": 32, "num_layers": 1, "num_attention_heads": heads,
                "intermediate_size": 64,
            },
            detr_decoder_config={
                "hidden_size": 32, "num_layers": 1, "num_queries": 12,
                "num_attention_heads": heads, "intermediate_size": 64,
            },
            mask_decoder_config={"hidden_size": 32, "num_upsampling_stages": 2},
        )  # fmt: skip
    model = Sam3Model(config).eval()
    image_processor = Sam3ImageProcessor(size={"height": size, "width": size})
    return model, Sam3Processor(image_processor=image_processor, tokenizer=tokenizer)


def save_owlv2(folder: Path, *, full: bool = False, seed: int = 0) -> Path:
    model, processor = build_owlv2(full=full, seed=seed)
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def build_owlv2(*, full: bool = False, seed: int = 0) -> tuple[Any, Any]:
    """(Owlv2ForObjectDetection, Owlv2Processor) with random weights."""
    from transformers import Owlv2Config, Owlv2ForObjectDetection, Owlv2Processor

    torch.manual_seed(seed)
    tokenizer = clip_tokenizer(16)
    n_vocab = len(tokenizer)
    ids = {"bos_token_id": n_vocab - 2, "eos_token_id": n_vocab - 1, "pad_token_id": n_vocab - 1}
    if full:
        size = 960
        config = Owlv2Config(
            text_config={"vocab_size": 49408, **ids}, vision_config={"image_size": size}
        )
    else:
        size = 64
        config = Owlv2Config(
            text_config={
                "vocab_size": n_vocab, "hidden_size": 32, "intermediate_size": 37,
                "num_hidden_layers": 2, "num_attention_heads": 4, **ids,
            },
            vision_config={
                "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2,
                "num_attention_heads": 4, "image_size": size, "patch_size": 16,
            },
            projection_dim=32,
        )  # fmt: skip
    model = Owlv2ForObjectDetection(config).eval()
    image_processor = _image_processor("Owlv2ImageProcessor", size={"height": size, "width": size})
    return model, Owlv2Processor(image_processor=image_processor, tokenizer=tokenizer)


def save_grounding_dino(folder: Path, *, full: bool = False, seed: int = 0) -> Path:
    model, processor = build_grounding_dino(full=full, seed=seed)
    processor.save_pretrained(folder)
    model.save_pretrained(folder)
    return folder


def build_grounding_dino(*, full: bool = False, seed: int = 0) -> tuple[Any, Any]:
    """(GroundingDinoForObjectDetection, GroundingDinoProcessor) with random weights."""
    from transformers import (
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoProcessor,
        SwinConfig,
    )

    torch.manual_seed(seed)
    tokenizer = bert_tokenizer()
    if full:
        # grounding-dino-tiny: Swin-T backbone, BERT-base text encoder.
        config = GroundingDinoConfig(
            backbone_config=SwinConfig(
                out_indices=[2, 3, 4], out_features=["stage2", "stage3", "stage4"]
            ),
            text_config={"model_type": "bert", "vocab_size": len(tokenizer)},
        )
        size = {"shortest_edge": 800, "longest_edge": 1333}
    else:
        swin = SwinConfig(
            window_size=7, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
            image_size=98, out_features=["stage2", "stage3", "stage4"], out_indices=[2, 3, 4],
        )  # fmt: skip
        config = GroundingDinoConfig(
            d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=4,
            decoder_attention_heads=4, encoder_ffn_dim=16, decoder_ffn_dim=16, num_queries=20,
            num_feature_levels=4, encoder_n_points=2, decoder_n_points=2, use_timm_backbone=False,
            backbone_config=swin, max_text_len=64,
            text_config={
                "model_type": "bert", "vocab_size": len(tokenizer), "hidden_size": 16,
                "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
                "max_position_embeddings": 64,
            },
        )  # fmt: skip
        size = {"shortest_edge": 96, "longest_edge": 128}
    model = GroundingDinoForObjectDetection(config).eval()
    image_processor = _image_processor("GroundingDinoImageProcessor", size=size)
    return model, GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer)
