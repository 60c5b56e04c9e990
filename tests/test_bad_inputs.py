"""Bad-input probes (issue 11): each is a clear error (or a repaired cache), never a traceback,
a stale cached number or an arbitrary result."""

from __future__ import annotations

import json
import os
import sys
import time
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy
import torch

from langsteer.config import ConfigError, config_from_dict
from langsteer.encoding.embeddings import encode
from langsteer.encoding.responses import collect_responses
from langsteer.methods.experts import (
    ExpertFinder,
    ExpertSet,
    UnreliableExpertsWarning,
    find_experts,
)
from langsteer.methods.forcing import intervene
from langsteer.metrics.retrieval import retrieval_top1
from langsteer.models import (
    SUPPORTED_ARCHITECTURES,
    embedded,
    fingerprint,
    from_pretrained_objects,
    load_model,
    resolve_units,
    tiny_model,
    tiny_tokenizer,
)
from langsteer.models.loading import non_causal_reason
from langsteer.study.pipeline import run_study
from tests.test_cli_errors import cli, forbid_model_loading
from tests.test_experts import toy_corpus
from tests.test_pipeline import make_parallel_dir, save_tiny_model

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SENTENCES = ["hello world", "the cat sat.", "bonjour le monde", "xyz abc"]
ROOT = Path(__file__).resolve().parents[1]


def _age(folder: Path, seconds: float = 60.0) -> None:
    """Make the files look older than the memo's racy window (as a real model's are)."""
    past = time.time() - seconds
    for f in folder.iterdir():
        os.utime(f, (past, past))


# --- 1. cache keys follow the weights --------------------------------------------------------


def test_new_weights_in_the_same_folder_miss_the_cache(tmp_path):
    folder, cache = tmp_path / "model", tmp_path / "cache"
    save_tiny_model(folder)
    first = load_model(str(folder))
    units = resolve_units(first.model, "mlp")
    a = collect_responses(first, SENTENCES, units, cache_dir=cache, progress=False)
    ea = encode(first, SENTENCES, cache_dir=cache, progress=False)
    assert first.describe()["content_hash"].startswith("sha256:")
    again = collect_responses(
        load_model(str(folder)), SENTENCES, units, cache_dir=cache, progress=False
    )
    assert again.meta["cache"]["hit"]

    other = tiny_model("llama", seed=1)  # new weights, same architecture, same folder
    other.model.save_pretrained(folder)
    second = load_model(str(folder))
    b = collect_responses(second, SENTENCES, units, cache_dir=cache, progress=False)
    eb = encode(second, SENTENCES, cache_dir=cache, progress=False)
    assert not b.meta["cache"]["hit"] and not eb.meta["cache"]["hit"]
    assert not np.allclose(np.asarray(a.values), np.asarray(b.values))
    assert not np.allclose(np.asarray(ea.values), np.asarray(eb.values))
    assert b.meta["model"]["content_hash"] != a.meta["model"]["content_hash"]


def test_file_hashes_are_memoised_by_stat(tmp_path, monkeypatch):
    folder, memo = tmp_path / "model", tmp_path / "memo"
    save_tiny_model(folder)
    (folder / "README.md").write_text("not part of the model")
    _age(folder)
    calls = []
    real = fingerprint._sha256
    monkeypatch.setattr(fingerprint, "_sha256", lambda p: calls.append(p.name) or real(p))
    h1 = load_model(str(folder), memo_dir=memo).content_hash
    assert "model.safetensors" in calls and "README.md" not in calls
    assert (memo / fingerprint.MEMO_NAME).exists()
    calls.clear()
    assert load_model(str(folder), memo_dir=memo).content_hash == h1 and calls == []
    # a changed tokenizer file alone changes the hash, and only that file is read again
    tok = folder / "tokenizer_config.json"
    tok.write_text(tok.read_text().replace("}", ', "x_note": 1}', 1))
    h2 = load_model(str(folder), memo_dir=memo).content_hash
    assert h2 != h1 and calls == ["tokenizer_config.json"]
    # a damaged memo is ignored, not fatal
    (memo / fingerprint.MEMO_NAME).write_text("{not json")
    assert load_model(str(folder), memo_dir=memo).content_hash == h2


def test_only_the_files_transformers_reads_are_hashed(tmp_path):
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    index = {"weight_map": {"a": shards[0], "b": shards[1]}}
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    for name in [
        *shards,
        "consolidated.safetensors",
        "README.md",
        "LICENSE.txt",
        "tokenizer.json",
        "config.json",
        "tf_model.h5",
    ]:
        (tmp_path / name).write_text(name)
    (tmp_path / "original").mkdir()
    (tmp_path / "original" / "consolidated.00.pth").write_text("x")
    names = [p.name for p in fingerprint.model_files(tmp_path)]
    assert names == ["config.json", *shards, "model.safetensors.index.json", "tokenizer.json"]
    assert [p.name for p in fingerprint.model_files(tmp_path, "m.gguf")] == ["m.gguf"]


def test_in_memory_models_are_fingerprinted_at_describe():
    lm = tiny_model("llama")
    before = lm.describe()["content_hash"]
    assert before.startswith("params:") and lm.describe()["content_hash"] == before
    with torch.no_grad():
        lm.model.model.layers[0].mlp.up_proj.weight.data[0, 0] += 1.0  # an in-place edit
    assert lm.describe()["content_hash"] != before
    given = from_pretrained_objects(lm.model, lm.tokenizer, content_hash="sha256:abc")
    assert given.describe()["content_hash"] == "sha256:abc"


def test_big_in_memory_models_get_a_sampled_fingerprint(monkeypatch):
    monkeypatch.setattr(fingerprint, "PARAM_HASH_LIMIT_BYTES", 0)
    assert tiny_model("gpt2").describe()["content_hash"].startswith("params-sampled:")


def test_hub_models_are_keyed_by_their_commit(monkeypatch):
    import transformers

    lm = tiny_model("llama")
    lm.model.config._commit_hash = "0123abcd"
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: lm.tokenizer)
    monkeypatch.setattr(
        transformers.AutoModelForCausalLM, "from_pretrained", lambda *a, **k: lm.model
    )
    assert load_model("some-org/some-model").describe()["content_hash"] == "commit:0123abcd"


def _fake_embedded(monkeypatch, conversions: list):
    pkg = types.SimpleNamespace(EXPECTED_SHA256="f" * 64, MODEL_NAME="m.gguf")
    monkeypatch.setattr(embedded, "_package", lambda: pkg)

    def convert(pkg, work, final):
        conversions.append(final)
        return save_tiny_model(work / "model")

    monkeypatch.setattr(embedded, "_convert", convert)


def test_damaged_embedded_copy_is_converted_again(tmp_path, monkeypatch, capsys):
    conversions: list = []
    _fake_embedded(monkeypatch, conversions)
    folder = embedded.ensure_embedded_model(tmp_path)
    manifest = json.loads((folder / embedded.MANIFEST).read_text())
    assert len(conversions) == 1 and manifest["content_hash"].startswith("sha256:")
    _age(folder)
    assert embedded.ensure_embedded_model(tmp_path) == folder and len(conversions) == 1

    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # truncated
    embedded.ensure_embedded_model(tmp_path)
    assert len(conversions) == 2
    assert f"embedded model in {folder} is damaged" in capsys.readouterr().err

    data = bytearray(weights.read_bytes())  # same size, flipped bytes in the tensor data
    data[-50:] = bytes(50)
    weights.write_bytes(bytes(data))
    loaded = embedded.load_embedded(root=tmp_path, device="cpu")
    assert len(conversions) == 3 and "files changed" in capsys.readouterr().err
    assert loaded.describe()["content_hash"] == manifest["content_hash"]
    assert loaded.model_id == embedded.EMBEDDED_MODEL_ID


# --- 2. expert files are validated on load ---------------------------------------------------


def _expert_file(tmp_path) -> tuple[ExpertSet, Path]:
    loaded = tiny_model("llama")
    experts, _ = find_experts(
        loaded, toy_corpus(24), ["eng_Latn"], negatives=["deu_Latn"], k=4, progress=False
    )
    ex = experts["eng_Latn"]
    return ex, ex.save(tmp_path / "good.safetensors")


def _tampered(path: Path, ex: ExpertSet, *, scores=None, **meta) -> Path:
    tensors = {
        "scores": ex.scores if scores is None else scores,
        "pos_mean": ex.pos_mean,
        "pos_median": ex.pos_median,
        "neg_mean": ex.neg_mean,
    }
    info = {**ex.meta, "units": ex.units.to_dict(), **meta}
    path.write_bytes(safetensors.numpy.save(tensors, metadata={"langsteer": json.dumps(info)}))
    return path


def test_expert_files_are_validated_on_load(tmp_path):
    ex, _ = _expert_file(tmp_path)
    n = ex.units.n_units
    cases = {
        "k_too_big": ({"k": n + 1}, None, "exceeds|only"),
        "overlap": ({"k": n - 2, "bottom_k": 3}, None, "overlap"),
        "negative": ({"k": -1}, None, "non-negative"),
        "all_nan": ({}, np.full(n, np.nan), "every unit"),
        "some_nan": ({}, np.where(np.arange(n) < 2, np.nan, ex.scores), "2 of"),
    }
    for name, (meta, scores, message) in cases.items():
        path = _tampered(tmp_path / f"{name}.safetensors", ex, scores=scores, **meta)
        with pytest.raises(ValueError, match=message) as info:
            ExpertSet.load(path)
        assert str(path) in str(info.value), name


def test_two_expert_files_for_one_target_are_refused(tmp_path, monkeypatch, capsys):
    model_dir = save_tiny_model(tmp_path / "model")
    corpus = make_parallel_dir(tmp_path / "corpus")
    loaded, probing = load_model(str(model_dir)), toy_corpus(24)
    experts, _ = find_experts(loaded, probing, ["eng"], negatives=["deu"], k=4, progress=False)
    good = experts["eng_Latn"].save(tmp_path / "good.safetensors")
    other = experts["eng_Latn"].with_k(3).save(tmp_path / "other.safetensors")
    cfg = config_from_dict(
        {
            "model": {"id": str(model_dir)},
            "corpus": {"source": str(corpus), "n_expert": 0, "n_center": 0, "n_eval": 10},
            "experts": {"targets": ["eng"]},
            "evaluation": {"languages": ["eng", "deu"]},
            "analyses": {"paraphrase": False},
            "run": {"cache_dir": str(tmp_path / "cache"), "progress": False},
            "methods": [{"name": "experts", "files": [str(good), str(other)]}, {"name": "none"}],
        }
    )
    forbid_model_loading(monkeypatch)  # refused while the study's data is checked
    with pytest.raises(ConfigError, match=r"two expert files for target eng_Latn") as info:
        run_study(cfg, tmp_path / "out")
    assert str(good) in str(info.value) and str(other) in str(info.value)
    rc = cli(
        f"evaluate --model {model_dir} --corpus {corpus} --languages eng deu "
        f"--experts {good} {other} --out {tmp_path / 'o'}"
    )
    err = capsys.readouterr().err
    assert rc == 2 and "--experts" in err and "two expert files for target eng_Latn" in err


# --- 3. advice the user can follow -----------------------------------------------------------


def test_non_finite_advice_names_the_dtype_actually_used():
    lm = tiny_model("llama")
    units = resolve_units(lm.model, "mlp")
    mlp = lm.model.model.layers[0].mlp
    with torch.no_grad():  # finite weights whose product overflows even in float32
        mlp.gate_proj.weight.mul_(1e20)
        mlp.up_proj.weight.mul_(1e20)
    with pytest.raises(FloatingPointError) as info:
        collect_responses(lm, SENTENCES, units, progress=False)
    text = str(info.value)
    assert "float32" in text and "weights are finite" in text and "run it in float32" not in text
    with pytest.raises(FloatingPointError, match="weights are finite"):
        encode(lm, SENTENCES, progress=False)

    lm = tiny_model("llama")
    with torch.no_grad():
        lm.model.model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")
    with pytest.raises(FloatingPointError, match=r"float32\) has NaN/inf in its weights"):
        collect_responses(lm, SENTENCES, resolve_units(lm.model, "mlp"), progress=False)

    lm = tiny_model("llama")
    mlp = lm.model.model.layers[0].mlp
    with torch.no_grad():  # fine in float32, an overflow in float16
        mlp.gate_proj.weight.mul_(1e3)
        mlp.up_proj.weight.mul_(1e3)
    half = from_pretrained_objects(lm.model.half(), lm.tokenizer)
    with pytest.raises(FloatingPointError) as info:
        collect_responses(half, SENTENCES, resolve_units(half.model, "mlp"), progress=False)
    assert "float16" in str(info.value) and "--dtype float32" in str(info.value)
    assert 'model.dtype = "float32"' in str(info.value)


def test_k_zero_is_refused_up_front(tmp_path, capsys):
    with pytest.raises(ConfigError, match=r"experts\.k = 0"):
        config_from_dict({"experts": {"k": 0}})
    ex, _ = _expert_file(tmp_path)
    with pytest.raises(ValueError, match=r"experts\.k"):
        intervene(tiny_model("llama"), ex.with_k(0))
    missing = tmp_path / "missing"
    rc = cli(f"experts --model {missing} --corpus x --target eng --k 0 --out {tmp_path / 'e.st'}")
    err = capsys.readouterr().err
    assert rc == 2 and "experts.k = 0" in err and "--k" in err
    empty = ex.with_k(0).save(tmp_path / "k0.safetensors")
    for command in ("evaluate", "sweep"):
        rc = cli(f"{command} --model {missing} --corpus x --experts {empty} --out {tmp_path / 'o'}")
        err = capsys.readouterr().err
        assert rc == 2 and "k = 0" in err and "--k 1" in err, command


def test_zero_norm_message_names_the_real_cause():
    q = np.random.default_rng(0).standard_normal((4, 8))
    with pytest.raises(ValueError, match=r"zero norm.*identical.*corpus.duplicates"):
        retrieval_top1(q, np.zeros((4, 8)))


def test_empty_sentence_message_names_reachable_options():
    lm = tiny_model("llama")
    with pytest.raises(ValueError, match=r"corpus.drop_empty.*--drop-empty"):
        collect_responses(lm, ["ok", " "], resolve_units(lm.model, "mlp"), progress=False)


# --- 4. one-line errors instead of tracebacks (the CLI's: tests/test_cli_errors.py) ----------


def test_damaged_cache_entries_are_recomputed(tmp_path):
    lm = tiny_model("llama")
    units = resolve_units(lm.model, "mlp")
    fresh = collect_responses(lm, SENTENCES, units, cache_dir=tmp_path, progress=False)
    expected = np.array(fresh.values)
    (entry,) = (tmp_path / "passes").iterdir()  # one folder per cached pass
    array = entry / "responses.npy"
    for damage in (
        lambda: array.write_bytes(array.read_bytes()[:-40]),  # truncated array
        lambda: (entry / "meta.json").write_text("{oops"),  # invalid metadata
        lambda: array.write_bytes(b""),  # empty file
    ):
        damage()
        with pytest.warns(UserWarning, match=f"cache entry {entry} is unreadable"):
            again = collect_responses(lm, SENTENCES, units, cache_dir=tmp_path, progress=False)
        assert not again.meta["cache"]["hit"]
        np.testing.assert_array_equal(np.asarray(again.values), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hit = collect_responses(lm, SENTENCES, units, cache_dir=tmp_path, progress=False)
    assert hit.meta["cache"]["hit"]


# --- 5. degenerate statistics and non-causal models ------------------------------------------


def test_too_few_sentences_for_experts(capsys, tmp_path):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((30, 12)).astype(np.float32)
    one_positive = np.zeros(30, bool)
    one_positive[0] = True
    with pytest.raises(ValueError, match=r"at least 2 of each.*corpus.n_expert"):
        ExpertFinder(k=2).fit(x, one_positive)
    few = np.arange(30) < 5
    with pytest.warns(UnreliableExpertsWarning, match="unreliable"):
        ExpertFinder(k=2).fit(x, few)
    with pytest.raises(ConfigError, match=r"corpus\.n_expert = 1"):
        config_from_dict({"corpus": {"n_expert": 1}})
    config_from_dict({"corpus": {"n_expert": 0}})  # experts given: fine
    experts = f"experts --model {tmp_path / 'm'} --corpus x --target eng --out {tmp_path / 'e.st'}"
    rc = cli(experts, "--n-sentences", "1")
    assert rc == 2 and "--n-sentences 1" in capsys.readouterr().err
    rc = cli(experts, "--n-sentences", "0")
    assert rc == 2 and "--n-sentences 0" in capsys.readouterr().err


def _tiny_bert(folder: Path) -> Path:
    from transformers import AutoModelForCausalLM, BertConfig

    tok = tiny_tokenizer()
    cfg = BertConfig(
        vocab_size=len(tok),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        is_decoder=False,
    )
    AutoModelForCausalLM.from_config(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def test_non_causal_models_are_refused_unless_forced(tmp_path, capsys):
    bert = _tiny_bert(tmp_path / "bert")
    with pytest.raises(ValueError, match=r"not a causal.*--allow-non-causal"):
        load_model(str(bert))
    forced = load_model(str(bert), allow_non_causal=True)
    assert non_causal_reason(forced.model) is not None
    corpus = make_parallel_dir(tmp_path / "corpus")
    rc = cli(
        f"experts --model {bert} --corpus {corpus} --target eng --negatives deu --k 2 "
        f"--units re:.*intermediate.dense --n-sentences 20 --out {tmp_path / 'e.st'}"
    )
    err = capsys.readouterr().err
    assert rc == 2 and "model.allow_non_causal" in err and "--allow-non-causal" in err
    study = {
        "model": {"id": str(bert)},
        "corpus": {"source": str(corpus), "n_expert": 16, "n_center": 8, "n_eval": 14},
        "experts": {"targets": ["eng"], "negatives": ["deu"]},
        "evaluation": {"languages": ["eng", "deu"]},
        "analyses": {"paraphrase": False},
        "run": {"progress": False},
    }
    with pytest.raises(ValueError, match="not a causal"):
        run_study(config_from_dict(study), tmp_path / "out")
    assert config_from_dict({"model": {"allow_non_causal": True}}).model.allow_non_causal


@pytest.mark.parametrize("arch", SUPPORTED_ARCHITECTURES)
def test_every_supported_decoder_counts_as_causal(arch):
    assert non_causal_reason(tiny_model(arch).model) is None


# --- 6. packaging ----------------------------------------------------------------------------


def test_tomli_is_declared_for_old_pythons():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    deps = [d.replace(" ", "").replace('"', "'") for d in project["dependencies"]]
    assert "tomli>=1.1;python_version<'3.11'" in deps
