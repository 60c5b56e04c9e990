"""Pooled responses: padding never pooled, batched == one-by-one, each sentence forwarded once."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from langsteer.encoding import cache
from langsteer.encoding import collect as collect_mod
from langsteer.encoding.cache import sentences_hash
from langsteer.encoding.responses import collect_responses
from langsteer.models import SUPPORTED_ARCHITECTURES, resolve_units, tiny_model

SENTENCES = [
    "hello world",
    "a much longer sentence with many words in it",
    "xyz",
    "the cat sat on the mat.",
    "bonjour le monde",
    "q",
    "une phrase assez longue pour avoir du remplissage",
]


def _collect(loaded, units, **kw):
    kw.setdefault("progress", False)
    return collect_responses(loaded, SENTENCES, units, **kw).values


@pytest.mark.parametrize("arch", SUPPORTED_ARCHITECTURES)
@pytest.mark.parametrize("side", ["left", "right"])
def test_batched_equals_one_by_one(arch, side):
    loaded = tiny_model(arch, padding_side=side)
    units = resolve_units(loaded.model, "mlp")
    for pooling in ("max", "mean", "last"):
        one = _collect(loaded, units, pooling=pooling, batch_size=1)
        many = _collect(loaded, units, pooling=pooling, batch_size=4)
        np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-5, err_msg=pooling)


def _manual(loaded, units, sentence, pooling, skip_bos):
    """Reference: full per-token activations of one unpadded sentence, pooled by hand."""
    model = loaded.model
    acts = {}
    handles = []
    for hp in units.hook_points:
        mod = model.get_submodule(hp.module)
        if hp.side == "out":
            handles.append(
                mod.register_forward_hook(lambda m, a, o, n=hp.name: acts.__setitem__(n, o[0]))
            )
        else:
            handles.append(
                mod.register_forward_pre_hook(lambda m, a, n=hp.name: acts.__setitem__(n, a[0][0]))
            )
    ids = loaded.tokenizer(sentence, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        model(input_ids=ids)
    for h in handles:
        h.remove()
    cols = []
    for hp in units.hook_points:
        a = acts[hp.name].float()
        if skip_bos:
            a = a[1:]
        cols.append({"max": a.max(0).values, "mean": a.mean(0), "last": a[-1]}[pooling])
    return torch.cat(cols).numpy()


@pytest.mark.parametrize("pooling", ["max", "mean", "last"])
@pytest.mark.parametrize("skip_bos", [True, False])
def test_pooling_matches_full_activations(pooling, skip_bos):
    loaded = tiny_model("llama", padding_side="left")
    units = resolve_units(loaded.model, "mlp-act")
    got = _collect(loaded, units, pooling=pooling, skip_bos=skip_bos, batch_size=3)
    for i, s in enumerate(SENTENCES):
        want = _manual(loaded, units, s, pooling, skip_bos)
        np.testing.assert_allclose(got[i], want, rtol=1e-5, atol=1e-5)


def test_each_unique_sentence_forwarded_once(tmp_path):
    loaded = tiny_model("gpt2")
    units = resolve_units(loaded.model, "mlp")
    seen = []
    emb = loaded.model.get_input_embeddings()
    h = emb.register_forward_hook(lambda m, a, o: seen.append(a[0].shape[0]))
    sentences = ["abc", "def", "abc", "ghi", "def", "abc"]
    res = collect_responses(loaded, sentences, units, batch_size=8, progress=False)
    h.remove()
    assert sum(seen) == 3
    v = res.values
    np.testing.assert_array_equal(v[0], v[2])
    np.testing.assert_array_equal(v[0], v[5])
    np.testing.assert_array_equal(v[1], v[4])
    assert res.meta["n_unique"] == 3 and res.meta["n_sentences"] == 6
    assert res.meta["data_hash"] == sentences_hash(sentences)


def test_truncation_is_counted():
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")
    res = collect_responses(loaded, ["short", "x" * 40], units, max_length=8, progress=False)
    assert res.meta["n_truncated"] == 1


def test_cache_round_trip_and_no_temp_files(tmp_path):
    loaded = tiny_model("qwen2")
    units = resolve_units(loaded.model, "mlp")
    a = collect_responses(loaded, SENTENCES, units, cache_dir=tmp_path, progress=False)
    b = collect_responses(loaded, SENTENCES, units, cache_dir=tmp_path, progress=False)
    assert a.meta["cache"]["hit"] is False and b.meta["cache"]["hit"] is True
    np.testing.assert_array_equal(np.asarray(a.values), np.asarray(b.values))
    assert isinstance(b.values, np.memmap)
    c = collect_responses(
        loaded, SENTENCES, units, cache_dir=tmp_path, pooling="mean", progress=False
    )
    assert c.meta["cache"]["key"] != a.meta["cache"]["key"]
    assert not list(tmp_path.rglob("*.tmp*"))


def test_interrupted_run_leaves_no_entry(tmp_path, monkeypatch):
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(collect_mod, "fill_pass", boom)
    with pytest.raises(KeyboardInterrupt):
        collect_responses(loaded, SENTENCES, units, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.rglob("*.npy")) and not list(tmp_path.rglob("*.json"))


def test_large_matrices_are_memory_mapped(monkeypatch):
    monkeypatch.setattr(cache, "MEMMAP_THRESHOLD_BYTES", 16)
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")
    res = collect_responses(loaded, SENTENCES, units, progress=False)
    assert isinstance(res.values, np.memmap)


def test_temp_memmaps_delete_themselves(tmp_path, monkeypatch):
    """Uncached matrices above the threshold leave no file behind, in use or after."""
    import tempfile

    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")
    want = collect_responses(loaded, SENTENCES, units, progress=False).values
    monkeypatch.setattr(cache, "MEMMAP_THRESHOLD_BYTES", 16)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    res = collect_responses(loaded, SENTENCES, units, progress=False)
    assert isinstance(res.values, np.memmap)
    np.testing.assert_array_equal(np.asarray(res.values), want)
    assert not list(tmp_path.iterdir())
    out, _ = cache.cached_arrays(
        None, "kind", {"x": 1}, {"a": (4, 8)}, lambda a: a["a"].fill(2.0) or {}, {}
    )
    out = out["a"]
    assert isinstance(out, np.memmap) and float(out.sum()) == 64.0
    assert not list(tmp_path.iterdir())
    del res, out


def test_bad_inputs():
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp")
    with pytest.raises(ValueError, match="empty"):
        collect_responses(loaded, [], units, progress=False)
    with pytest.raises(ValueError, match="empty"):
        collect_responses(loaded, ["ok", "  "], units, progress=False)
    with pytest.raises(ValueError, match="pooling"):
        collect_responses(loaded, ["ok"], units, pooling="median", progress=False)


def test_nan_activations_are_reported():
    loaded = tiny_model("llama")
    with torch.no_grad():
        loaded.model.model.layers[0].mlp.up_proj.weight[3, :] = float("nan")
    units = resolve_units(loaded.model, "mlp")
    with pytest.raises(FloatingPointError, match="float32"):
        collect_responses(loaded, SENTENCES, units, progress=False)


def test_stops_after_last_hooked_layer():
    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, r"re:layers\.0\.mlp\.up_proj")
    calls = []
    h = loaded.model.model.layers[1].register_forward_hook(lambda *a: calls.append(1))
    res = collect_responses(loaded, SENTENCES, units, progress=False)
    h.remove()
    assert calls == [] and res.values.shape == (len(SENTENCES), units.n_units)


def test_stale_temp_folders_of_dead_processes_are_removed(tmp_path):
    key_payload = {"x": 1}
    folder = tmp_path / "kind"
    folder.mkdir()
    stale = folder / f".{cache.cache_key(key_payload)}.999999999.tmp"
    stale.mkdir()
    (stale / "a.npy").write_bytes(b"half-written")

    def fill(out):
        out["a"][:] = 1.0
        return {}

    values, _ = cache.cached_arrays(tmp_path, "kind", key_payload, {"a": (2, 3)}, fill, {})
    assert not stale.exists() and float(values["a"].sum()) == 6.0


def test_damaged_entries_are_computed_again(tmp_path):
    calls = []

    def fill(out):
        calls.append(1)
        out["a"][:] = 2.0
        return {}

    key = {"y": 2}
    cache.cached_arrays(tmp_path, "kind", key, {"a": (3,)}, fill, {})
    (tmp_path / "kind" / cache.cache_key(key) / "a.npy").write_bytes(b"\x93NUMPY truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        values, meta = cache.cached_arrays(tmp_path, "kind", key, {"a": (3,)}, fill, {})
    assert calls == [1, 1] and float(values["a"].sum()) == 6.0 and not meta["cache"]["hit"]


def test_token_statistics_count_every_token_of_every_group():
    """Per-language token sums and positive counts from the same pass equal a brute force."""
    from langsteer.encoding.collect import PassSpec, run_pass

    loaded = tiny_model("llama")
    units = resolve_units(loaded.model, "mlp-act")
    sentences = ["abc de", "fgh", "abc de", "ijkl mno", "pq"]
    groups = (0, 0, 1, 1, 1)  # "abc de" counts once in each group
    spec = PassSpec(units=units, stats_units=units, groups=groups, skip_bos=True)
    res = run_pass(loaded, sentences, spec, batch_size=2, progress=False)
    rows = []
    module = loaded.model.get_submodule(units.hook_points[0].module)
    h = module.register_forward_pre_hook(lambda m, a: rows.append(a[0][0, 1:].detach().clone()))
    with torch.no_grad():
        for s in sentences:
            ids = loaded.tokenizer(s, return_tensors="pt")
            loaded.model(**ids)
    h.remove()
    width = units.hook_points[0].width
    for g in (0, 1):
        acts = torch.cat([rows[i] for i in range(len(sentences)) if groups[i] == g]).double()
        assert res.stats["tokens"][g] == acts.shape[0]
        np.testing.assert_allclose(res.stats["token_sum"][g, :width], acts.sum(0), atol=1e-5)
        np.testing.assert_array_equal(
            res.stats["token_positive"][g, :width], (acts > 0).sum(0).numpy()
        )


def test_one_pass_records_responses_statistics_and_embeddings_as_separate_passes_would():
    from langsteer.encoding.collect import PassSpec, run_pass
    from langsteer.encoding.embeddings import encode

    loaded = tiny_model("qwen2")
    units = resolve_units(loaded.model, "mlp")
    both = run_pass(
        loaded,
        SENTENCES,
        PassSpec(
            units=units, stats_units=units, groups=tuple(range(len(SENTENCES))), layers=(0, 1, 2)
        ),
        progress=False,
    )
    alone = collect_responses(loaded, SENTENCES, units, progress=False)
    emb = encode(loaded, SENTENCES, progress=False)
    np.testing.assert_array_equal(both.responses, alone.values)
    np.testing.assert_array_equal(both.embeddings, emb.values)
