"""Tiny random-weight models, one per supported architecture, built in code (no download).

They exist so every module can be tested on every architecture in seconds, with a
character-level tokenizer whose tokens are known, and so a test can *plant* a language-selective
unit (``plant_language_unit``) that the expert finder must then recover.
"""

from __future__ import annotations

from typing import Any

import torch

from .loading import LoadedModel, from_pretrained_objects
from .units import decoder_blocks, is_linear_like, mlp_layout, resolve_units

__all__ = [
    "ALPHABET",
    "SPECIAL_TOKENS",
    "SUPPORTED_ARCHITECTURES",
    "plant_language_unit",
    "tiny_config",
    "tiny_model",
    "tiny_tokenizer",
]

SUPPORTED_ARCHITECTURES: tuple[str, ...] = (
    "gpt2",
    "bloom",
    "llama",
    "mistral",
    "qwen2",
    "qwen3",
    "gemma",
    "gemma3_text",
    "cohere",
    "xglm",
    "opt",
    "gpt_neox",
)
_ALIASES = {"gemma3": "gemma3_text", "polylm": "gpt2", "aya": "cohere", "neox": "gpt_neox"}

SPECIAL_TOKENS = ("<pad>", "<bos>", "<eos>", "<unk>")
# Fixed order = fixed ids: changing this string changes every tiny model's vocabulary.
ALPHABET = (
    " abcdefghijklmnopqrstuvwxyz"
    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    ".,;:!?'\"-()"
    "áàâäãçéèêëíìîïñóòôöõúùûüßœ"
    "αβγδεζηθικλμνξοπρστυφχψω"
    "абвгдежзийклмнопрстуфхцчшщыьэюя"
    "日本語中文的是人あいうえおかきくけこアイウエオ"
    "ابتثجحخدرسعلمنهوي"
)
_HIDDEN, _INTER, _HEADS, _KV_HEADS, _LAYERS, _MAX_POS = 32, 64, 4, 2, 2, 512


def tiny_tokenizer(padding_side: str = "right") -> Any:
    """Character-level fast tokenizer: one token per character, BOS prepended, pad set.

    Built with ``tokenizers`` (WordLevel over single characters) so ids are stable and known:
    specials are 0..3, then ALPHABET in order; anything else maps to <unk>.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    for ch in ALPHABET:
        vocab.setdefault(ch, len(vocab))
    tk = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tk.decoder = decoders.Fuse()
    bos = vocab["<bos>"]
    tk.post_processor = TemplateProcessing(
        single="<bos> $A", pair="<bos> $A $B:1", special_tokens=[("<bos>", bos)]
    )
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk,
        pad_token="<pad>",
        bos_token="<bos>",
        eos_token="<eos>",
        unk_token="<unk>",
        padding_side=padding_side,
        model_max_length=_MAX_POS,
    )
    return tok


def _canonical(arch: str) -> str:
    a = _ALIASES.get(arch, arch)
    if a not in SUPPORTED_ARCHITECTURES:
        raise ValueError(
            f"unknown tiny architecture {arch!r}; choose from {SUPPORTED_ARCHITECTURES}"
        )
    return a


def tiny_config(arch: str, vocab_size: int) -> Any:
    """A deterministic 2-layer config (hidden 32, MLP 64, 4 heads), dropout off, eager attention."""
    import transformers as T

    arch = _canonical(arch)
    H, I, NH, L, P = _HIDDEN, _INTER, _HEADS, _LAYERS, _MAX_POS  # noqa: E741
    common = {"vocab_size": vocab_size, "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}
    gated = dict(
        num_hidden_layers=L, hidden_size=H, intermediate_size=I, num_attention_heads=NH,
        num_key_value_heads=_KV_HEADS, head_dim=H // NH, max_position_embeddings=P,
        initializer_range=0.1,
    )  # fmt: skip
    fc = dict(ffn_dim=I, max_position_embeddings=P, init_std=0.1, dropout=0.0,
              attention_dropout=0.0, activation_dropout=0.0)  # fmt: skip
    table: dict[str, tuple[type, dict[str, Any]]] = {
        "gpt2": (T.GPT2Config, dict(
            n_layer=L, n_embd=H, n_inner=I, n_head=NH, n_positions=P, initializer_range=0.1,
            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)),
        # BLOOM's MLP is fixed at 4 x hidden: hidden 16 keeps it at 64 like the others.
        "bloom": (T.BloomConfig, dict(
            n_layer=L, hidden_size=16, n_head=2, initializer_range=0.1, hidden_dropout=0.0,
            attention_dropout=0.0)),
        "gpt_neox": (T.GPTNeoXConfig, dict(
            num_hidden_layers=L, hidden_size=H, intermediate_size=I, num_attention_heads=NH,
            max_position_embeddings=P, initializer_range=0.1, hidden_dropout=0.0,
            attention_dropout=0.0)),
        "xglm": (T.XGLMConfig, dict(num_layers=L, d_model=H, attention_heads=NH, **fc)),
        "opt": (T.OPTConfig, dict(
            num_hidden_layers=L, hidden_size=H, word_embed_proj_dim=H, num_attention_heads=NH,
            layerdrop=0.0, **fc)),
        "llama": (T.LlamaConfig, gated),
        "mistral": (T.MistralConfig, gated),
        "qwen2": (T.Qwen2Config, gated),
        "qwen3": (T.Qwen3Config, gated),
        "gemma": (T.GemmaConfig, gated),
        "gemma3_text": (T.Gemma3TextConfig, dict(gated, sliding_window=64)),
        "cohere": (T.CohereConfig, gated),
    }  # fmt: skip
    cls, kwargs = table[arch]
    cfg = cls(**kwargs, **common)
    cfg._attn_implementation = "eager"
    return cfg


def tiny_model(
    arch: str, *, seed: int = 0, vocab: int | None = None, padding_side: str = "right"
) -> LoadedModel:
    """A random-weight float32 model in eval mode with the tiny tokenizer.

    ``vocab`` can enlarge the embedding matrix beyond the tokenizer (real models pad theirs);
    it can never be smaller, so every token id is valid. The global RNG is left untouched.
    """
    from transformers import AutoModelForCausalLM

    arch = _canonical(arch)
    tok = tiny_tokenizer(padding_side)
    n = len(tok)
    if vocab is not None and vocab < n:
        raise ValueError(f"vocab={vocab} is smaller than the tiny tokenizer ({n} tokens)")
    cfg = tiny_config(arch, vocab or n)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32)
    model.eval()
    return from_pretrained_objects(model, tok, model_id=f"tiny-random-{arch}")


def _planted_token_ids(tokenizer: Any, chars: str) -> list[int]:
    """Ids of non-special tokens whose decoded text consists only of the given characters."""
    allowed = set(chars)
    special = set(tokenizer.all_special_ids)
    ids = []
    for i in range(len(tokenizer)):
        if i in special:
            continue
        text = tokenizer.decode([i]).strip()
        if text and set(text) <= allowed:
            ids.append(i)
    return ids


@torch.no_grad()
def plant_language_unit(
    loaded: LoadedModel,
    chars: str,
    *,
    hook_point_name: str | None = None,
    channel: int = 0,
    strength: float = 8.0,
    dim: int | None = None,
) -> str:
    """Make one layer-0 MLP unit fire strongly on tokens made of ``chars``; return its name.

    Mechanism: the planted tokens get a component of ``strength`` x (typical embedding norm) along
    one residual dimension ``dim`` that every other token, position embedding and the layer-0
    attention output has zeroed; after LayerNorm/RMSNorm that dimension is ~sqrt(hidden) for planted
    tokens and ~0 otherwise. The unit's weight row then reads only ``dim``. ``hook_point_name`` may
    be an output of a layer-0 MLP input-side Linear (default: the first one) or the ``:in`` of the
    layer-0 down projection (then every input-side Linear's row ``channel`` reads ``dim``).
    """
    model = loaded.model
    layout = mlp_layout(model)
    bpath, block = decoder_blocks(model)[0]
    mlp_units = resolve_units(model, "mlp")
    layer0 = [hp for hp in mlp_units.hook_points if hp.layer == 0]
    ups = [hp for hp in layer0 if hp.kind != layout.down]
    down = next(hp for hp in layer0 if hp.kind == layout.down)
    if hook_point_name is None:
        hook_point_name = ups[0].name
    if hook_point_name == f"{down.module}:in":
        targets, width = ups, down.width
    else:
        targets = [hp for hp in ups if hp.name == hook_point_name]
        if not targets:
            raise ValueError(
                f"can only plant on a layer-0 MLP input-side output {[hp.name for hp in ups]} "
                f"or the down projection input {down.module}:in, not {hook_point_name!r}"
            )
        width = targets[0].width
    if not 0 <= channel < width:
        raise ValueError(f"channel {channel} out of range for {hook_point_name} (width {width})")

    emb = model.get_input_embeddings().weight
    hidden = emb.shape[1]
    dim = hidden - 1 if dim is None else dim
    ids = _planted_token_ids(loaded.tokenizer, chars)
    if not ids:
        raise ValueError(f"no token of the tokenizer is made only of {chars!r}")
    scale = emb.norm(dim=1).mean().item() * strength
    emb[:, dim] = 0.0
    emb[ids, dim] = scale
    # Nothing else may write into `dim` before the layer-0 MLP: position embeddings, attention.
    for name, mod in model.named_modules():
        if (
            isinstance(mod, torch.nn.Embedding)
            and mod.weight is not emb
            and mod.weight.shape[1] == hidden
        ):
            mod.weight[:, dim] = 0.0
        w = getattr(mod, "weights", None)  # XGLM's sinusoidal table (a buffer)
        if (
            name.endswith("embed_positions")
            and isinstance(w, torch.Tensor)
            and w.shape[-1] == hidden
        ):
            w[:, dim] = 0.0
    mlp_paths = {hp.module for hp in layer0}
    for rel, mod in block.named_modules():
        path = f"{bpath}.{rel}"
        if rel and is_linear_like(mod) and path not in mlp_paths:
            _zero_output_channel(mod, dim, hidden)
    for hp in targets:
        _read_only_dim(model.get_submodule(hp.module), channel, dim)
    return f"{hook_point_name}:{channel}"


def _zero_output_channel(mod: torch.nn.Module, ch: int, hidden: int) -> None:
    """Zero output channel ``ch`` of a Linear-like module writing to the residual (width hidden)."""
    from transformers.pytorch_utils import Conv1D

    if isinstance(mod, Conv1D):
        if mod.weight.shape[1] == hidden:
            mod.weight[:, ch] = 0.0
            mod.bias[ch] = 0.0
    elif mod.out_features == hidden:
        mod.weight[ch, :] = 0.0
        if mod.bias is not None:
            mod.bias[ch] = 0.0


def _read_only_dim(mod: torch.nn.Module, channel: int, dim: int, gain: float = 2.0) -> None:
    """Make output ``channel`` of a Linear-like module equal ``gain`` x input ``dim``."""
    from transformers.pytorch_utils import Conv1D

    if isinstance(mod, Conv1D):  # weight [in, out]
        mod.weight[:, channel] = 0.0
        mod.weight[dim, channel] = gain
    else:
        mod.weight[channel, :] = 0.0
        mod.weight[channel, dim] = gain
    if getattr(mod, "bias", None) is not None:
        mod.bias[channel] = 0.0
