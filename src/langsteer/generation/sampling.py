"""Sample continuations (by default from a BOS-only prompt) to check what an intervention does.

The paper measures steering by generating from nothing but BOS (8 seeds x 256 samples,
temperature 1, top-p 0.9) and asking a language identifier what came out. Sampling goes through
``model.generate`` with the KV cache on, so an attached intervention (forward hooks) is applied
to the prompt in the prefill call and then to every newly generated token, one call per step.

Determinism: before each batch the global torch RNG is seeded from ``(seed, batch index)``
inside ``torch.random.fork_rng`` (the caller's RNG state is restored afterwards), and samples of
different seeds are never mixed in one batch. The same seed, prompt, ``n_samples``,
``batch_size``, sampling options, model, dtype and device therefore give identical texts, and a
seed's samples do not depend on which other seeds are asked for. Changing ``batch_size``
changes the samples (the RNG draws cover a whole batch per step), and on GPUs
non-deterministic kernels or another library version can flip a near-tie.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from langsteer.config import SweepConfig
from langsteer.models import LoadedModel

__all__ = ["check_sampling_options", "generate_samples"]


def check_sampling_options(
    *,
    n_samples: int,
    seeds: Sequence[int],
    temperature: float,
    top_p: float,
    max_new_tokens: int,
    batch_size: int,
) -> list[int]:
    """Reject options that would silently sample something else than asked; return the seeds."""
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be an integer >= 1, got {n_samples!r}")
    if not isinstance(max_new_tokens, (int, np.integer)) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an integer >= 1, got {max_new_tokens!r}")
    if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be > 0 (sampling, not greedy), got {temperature}")
    if not np.isfinite(top_p) or not 0.0 < top_p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    if isinstance(seeds, (int, np.integer)):
        seeds = [seeds]
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds {seeds} contain duplicates: they would repeat the same samples")
    if any(s < 0 for s in seeds):
        raise ValueError(f"seeds must be non-negative, got {seeds}")
    return seeds


def _batch_seed(seed: int, batch: int) -> int:
    """A well-mixed 63-bit seed per (seed, batch): nearby seeds give unrelated streams."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(2, np.uint64)[0] >> 1)


def _prompt_ids(loaded: LoadedModel, prompt: str | Sequence[str] | None) -> list[list[int]]:
    tok = loaded.tokenizer
    if prompt is None:
        if tok.bos_token_id is None:
            raise ValueError(
                "the tokenizer has no BOS token, so a BOS-only prompt is impossible; pass prompt="
            )
        return [[tok.bos_token_id]]
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise ValueError("prompt is an empty list; use prompt=None for a BOS-only prompt")
    ids = tok(prompts, add_special_tokens=True)["input_ids"]
    for p, row in zip(prompts, ids, strict=True):
        if not row:
            raise ValueError(f"prompt {p!r} tokenizes to nothing; use prompt=None for BOS only")
    return [list(r) for r in ids]


def _left_pad(rows: list[list[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left padding: every row's last prompt token sits in the last column, where generation
    continues (right padding would make the model continue after pads)."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for b, r in enumerate(rows):
        ids[b, width - len(r) :] = torch.tensor(r, dtype=torch.long)
        mask[b, width - len(r) :] = 1
    return ids.to(device), mask.to(device)


def _generation_config(loaded: LoadedModel, **opts) -> Any:
    """The model's generation config with every sampling knob pinned to what was asked.

    Checkpoints ship their own defaults (Gemma: top_k=64, top_p=0.95; transformers: top_k=50);
    the paper samples with temperature and top-p only, so everything else is switched off.
    """
    cfg = copy.deepcopy(loaded.model.generation_config)
    for name, value in {
        "do_sample": True,
        "num_beams": 1,
        "top_k": 0,
        "min_p": None,
        "typical_p": 1.0,
        "epsilon_cutoff": 0.0,
        "eta_cutoff": 0.0,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "bad_words_ids": None,
        "suppress_tokens": None,
        "begin_suppress_tokens": None,
        "min_new_tokens": None,
        "min_length": 0,
        "max_length": None,
        "use_cache": True,
        "num_return_sequences": 1,
        "return_dict_in_generate": False,
        **opts,
    }.items():
        setattr(cfg, name, value)
    return cfg


def _split_new(new: torch.Tensor, eos_ids: set[int]) -> list[tuple[list[int], bool]]:
    """Per row: generated ids up to (not including) the first EOS, and whether EOS came."""
    out = []
    for row in new.tolist():
        stop = next((i for i, t in enumerate(row) if t in eos_ids), None)
        out.append((row if stop is None else row[:stop], stop is not None))
    return out


@torch.no_grad()
def generate_samples(
    loaded: LoadedModel,
    *,
    prompt: str | Sequence[str] | None = None,
    n_samples: int = SweepConfig.n_samples,
    seeds: Sequence[int] = (0,),
    temperature: float = 1.0,
    top_p: float = 0.9,
    max_new_tokens: int = SweepConfig.max_new_tokens,
    batch_size: int = SweepConfig.batch_size,
    intervention: Any = None,
) -> list[dict]:
    """``n_samples`` sampled continuations per seed, as dicts.

    Each dict: ``text`` (the continuation only, special tokens removed), ``seed``, ``index``
    (sample number within the seed), ``tokens`` (generated ids before the first EOS),
    ``finished`` (an EOS was generated), ``prompt`` (None = BOS only) and ``intervention``
    (``describe()`` of the intervention passed, or None). With a list of prompts, sample ``i``
    continues ``prompt[i % len(prompt)]``. ``intervention`` (an
    :class:`~langsteer.methods.forcing.Intervention`) is attached for the call if it is not
    already; hooks attached by other means act too but are not recorded.
    """
    seeds = check_sampling_options(
        n_samples=n_samples,
        seeds=seeds,
        temperature=temperature,
        top_p=top_p,
        max_new_tokens=max_new_tokens,
        batch_size=batch_size,
    )
    tok = loaded.tokenizer
    prompts = _prompt_ids(loaded, prompt)
    prompt_texts = (
        [None] if prompt is None else ([prompt] if isinstance(prompt, str) else list(prompt))
    )
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    if pad_id is None:
        raise ValueError(
            "the tokenizer has neither a pad nor an EOS token; set tokenizer.pad_token"
        )
    cfg = _generation_config(
        loaded,
        temperature=float(temperature),
        top_p=float(top_p),
        max_new_tokens=int(max_new_tokens),
        pad_token_id=pad_id,
    )
    eos = cfg.eos_token_id if cfg.eos_token_id is not None else tok.eos_token_id
    eos_ids = set() if eos is None else ({eos} if isinstance(eos, int) else set(eos))

    attached_here = intervention is not None and not intervention.active
    if attached_here:
        intervention.attach()
    described = intervention.describe() if intervention is not None else None
    device = loaded.device
    rng_devices = [device] if device.type == "cuda" else []
    results: list[dict] = []
    try:
        for seed in seeds:
            for b, start in enumerate(range(0, n_samples, batch_size)):
                idx = list(range(start, min(start + batch_size, n_samples)))
                ids, mask = _left_pad([prompts[i % len(prompts)] for i in idx], pad_id, device)
                with torch.random.fork_rng(devices=rng_devices):
                    torch.manual_seed(_batch_seed(seed, b))
                    out = loaded.model.generate(
                        input_ids=ids, attention_mask=mask, generation_config=cfg
                    )
                for i, (new, finished) in zip(
                    idx, _split_new(out[:, ids.shape[1] :], eos_ids), strict=True
                ):
                    results.append(
                        {
                            "text": tok.decode(new, skip_special_tokens=True),
                            "seed": seed,
                            "index": i,
                            "tokens": new,
                            "finished": finished,
                            "prompt": prompt_texts[i % len(prompt_texts)],
                            "intervention": described,
                        }
                    )
    finally:
        if attached_here:
            intervention.remove()
    return results
