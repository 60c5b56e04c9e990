"""The whole study on a tiny random model and a tiny parallel corpus made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from langsteer.config import ConfigError, StudyConfig, config_from_dict
from langsteer.models import tiny_model
from langsteer.study.pipeline import run_study

LANGS = {"eng": "abcdefgh", "deu": "ijklmnop", "fra": "qrstuvwx"}
BEFORE = Path(__file__).parent / "data" / "study_before_redesign.json"


def make_parallel_dir(root, n=40, seed=0):
    """Word-for-word 'translations': each language spells the same word ids with its letters."""
    rng = np.random.default_rng(seed)
    vocab = {
        lang: ["".join(rng.choice(list(chars), size=4)) for _ in range(30)]
        for lang, chars in LANGS.items()
    }
    sentences = [rng.integers(0, 30, size=rng.integers(3, 8)) for _ in range(n)]
    root.mkdir(parents=True, exist_ok=True)
    for lang in LANGS:
        lines = [" ".join(vocab[lang][w] for w in s) for s in sentences]
        (root / f"{lang}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def save_tiny_model(folder, arch: str = "llama"):
    """A tiny random model and its tokenizer saved to ``folder``, as a local model id."""
    tiny = tiny_model(arch)
    tiny.model.save_pretrained(folder)
    tiny.tokenizer.save_pretrained(folder)
    return folder


def tiny_study(tmp_path, **sections) -> StudyConfig:
    """The study of tests/data/study_before_redesign.json, with ``sections`` merged in."""
    model_dir = tmp_path / "model"
    if not model_dir.exists():
        save_tiny_model(model_dir)
        make_parallel_dir(tmp_path / "corpus")
    data = {
        "model": {"id": str(model_dir)},
        "corpus": {"source": str(tmp_path / "corpus"), "n_expert": 16, "n_center": 8, "n_eval": 14},
        "experts": {"targets": ["eng", "deu"], "k": 8},
        "intervention": {"value": "mean"},  # the paper's value, as before the redesign
        "evaluation": {"languages": ["eng", "deu", "fra"], "n_boot": 200},
        "analyses": {"paraphrase": False},
        "run": {"cache_dir": str(tmp_path / "cache"), "progress": False, "batch_size": 4},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return config_from_dict(data)


def test_new_path_reproduces_the_numbers_from_before_the_redesign(tmp_path):
    """Issue 12: the same study through the methods redesign gives the same numbers."""
    before = json.loads(BEFORE.read_text(encoding="utf-8"))["targets"]
    res = run_study(tiny_study(tmp_path), tmp_path / "out", report=False)
    for target, old in before.items():
        new = res["targets"][target]["methods"]
        for label in ("experts", "random-units", "steering-vector"):
            assert new[label]["retrieval"]["pre"] == old[label]["retrieval_pre"]
            assert new[label]["retrieval"]["post"] == old[label]["retrieval_post"]
            assert new[label]["per_layer"]["none"] == pytest.approx(old[label]["per_layer_raw"])
            for key, value in old[label]["geometry"].items():
                # the fixture was made with 2 threads, the tests run with 1: float32 sums
                # differ in the last bits, distances by ~1e-9
                assert new[label]["geometry"][key] == pytest.approx(value, abs=1e-7)
        controls = old["controls_last_layer"]
        spaces = {"pre": res["original"], "post": new["experts"], "random": new["random-units"]}
        names = {
            "raw": "none",
            "per_language_heldout": "per-language-centring",
            "whitening_heldout": "whitening",
        }
        for space, values in controls.items():
            for control, emb in names.items():
                got = spaces[space]["per_layer"][emb][-1]
                assert got == pytest.approx(values[control], abs=1e-12)
        experts = new["experts"]["experts"]
        assert experts["mean_score"] == pytest.approx(old["expert_mean_score"])
        assert {str(k): v for k, v in experts["by_layer"].items()} == old["expert_by_layer"]


@pytest.fixture
def study(tmp_path):
    sweep = {"enabled": True, "ks": [0, 4], "n_samples": 2, "max_new_tokens": 4, "n_ppl": 3}
    return tiny_study(tmp_path, sweep=sweep), tmp_path / "out"


def test_full_study(study):
    cfg, out = study
    res = run_study(cfg, out)
    saved = json.loads((out / "results.json").read_text())
    assert next(iter(saved)) == "leaderboard"
    assert {"report.md", "report.html", "experts"} <= {p.name for p in out.iterdir()}
    assert saved["targets"].keys() == {"eng_Latn", "deu_Latn"}
    methods = saved["targets"]["eng_Latn"]["methods"]
    assert set(methods) == {"experts", "random-units", "steering-vector"}
    t = methods["experts"]
    pre, post = t["retrieval"]["pre"], t["retrieval"]["post"]
    assert set(pre) == {"eng_Latn", "deu_Latn", "fra_Latn"}
    assert set(pre["eng_Latn"]) == {"deu_Latn", "fra_Latn"}
    assert all(0.0 <= v <= 1.0 for q in post.values() for v in q.values())
    assert t["experts"]["k"] == 8 and (out / t["experts"]["file"]).exists()
    assert "geometry.pre.mean_pairwise_centroid" in t["geometry"]
    assert methods["random-units"]["retrieval"]["pre"] == pre  # the same original space
    assert set(t["per_layer"]) == {"none", "global-centring", "per-language-centring", "whitening"}
    assert len(t["per_layer"]["none"]) == len(t["layers"]) == 3
    assert saved["config"]["experts"]["k"] == 8
    assert saved["corpora"]["eval"]["content_hash"] != saved["corpora"]["experts"]["content_hash"]
    assert saved["corpora"]["center"]["n"] == 8
    assert {"load_model", "probing", "embeddings_original", "scoring"} <= set(saved["timings"])
    assert res["targets"]["eng_Latn"]["methods"]["experts"]["retrieval"]["post"] == post
    gen = saved["generation"]["targets"]["eng_Latn"]
    assert gen["experts"]["k"] == [0, 4] and len(gen["experts"]["target_rate"]) == 2
    assert gen["steering-vector"]["k"] == [0, None]
    assert set(gen["experts"]["samples"]) == {"0", "4"}


def test_leaderboard_rows(study):
    cfg, out = study
    res = run_study(cfg, out, report=False)
    rows = res["leaderboard"]
    # 4 untouched rows + 2 targets x 3 model methods x 4 embedding methods
    assert len(rows) == 4 + 2 * 3 * 4
    keys = {
        "method",
        "kind",
        "target",
        "embedding",
        "layer",
        "top1",
        "delta",
        "ci95",
        "verdict",
        "selected_on",
        "selection_score",
        "in_sample",
        "supervised",
        "n",
    }
    assert all(keys <= set(r) for r in rows)
    base = [r for r in rows if r["verdict"] == "baseline"]
    assert len(base) == 1 and base[0]["kind"] == "embedding" and base[0]["target"] is None
    assert res["baseline"]["method"] == base[0]["method"]
    untouched = [r for r in rows if r["kind"] == "embedding"]
    assert base[0]["selection_score"] == max(r["selection_score"] for r in untouched)
    for r in rows:
        lo, hi = r["ci95"]
        assert lo - 1e-9 <= r["delta"] <= hi + 1e-9
        assert r["selected_on"] == "heldout" and r["n"] == 14
        assert r["top1"] == pytest.approx(base[0]["top1"] + r["delta"])
    assert res["selection"]["how"] == "heldout" and "held-out" in res["selection"]["split"]


def test_rerun_reuses_the_cache_and_outputs_are_one_set(study):
    cfg, out = study
    first = run_study(cfg, out, report=False)
    with pytest.raises(FileExistsError, match="--overwrite"):
        run_study(cfg, out)
    (out / "stale.txt").write_text("from an earlier run")
    second = run_study(cfg, out, overwrite=True, report=False)
    assert all(p["cache"]["hit"] for p in second["probing"])
    assert json.dumps(first["leaderboard"]) == json.dumps(second["leaderboard"])
    assert not (out / "stale.txt").exists()  # replaced as a whole, not mixed
    assert not any(p.name.startswith(f".{out.name}.") for p in out.parent.iterdir())


def test_a_failed_run_leaves_the_earlier_outputs_untouched(study, monkeypatch):
    cfg, out = study
    run_study(cfg, out, report=False)
    before = (out / "results.json").read_bytes()
    import langsteer.study.outputs as outputs

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(outputs, "atomic_write_json", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        run_study(cfg, out, overwrite=True, report=False)
    assert (out / "results.json").read_bytes() == before
    assert not any(p.name.startswith(f".{out.name}.") for p in out.parent.iterdir())


def test_candidates_are_chosen_on_the_heldout_split(tmp_path, monkeypatch):
    cfg = tiny_study(
        tmp_path,
        methods=[
            {"name": "steering-vector", "layer": [1, -2]},
            {"name": "none"},
            {"name": "per-language-centring"},
        ],
    )
    seen = []
    import langsteer.study.pipeline as pipeline

    score = pipeline.heldout_score

    def spy(space, *args, **kwargs):
        seen.append(len(next(iter(space.values()))))
        return score(space, *args, **kwargs)

    monkeypatch.setattr(pipeline, "heldout_score", spy)
    res = run_study(cfg, tmp_path / "out", report=False)
    assert seen == [8, 8, 8, 8]  # 2 candidates x 2 targets, on the 8 held-out sentences only
    rec = res["targets"]["eng_Latn"]["methods"]["steering-vector"]
    assert [c["params"]["layer"] for c in rec["candidates"]] == [1, -2]
    chosen = [c for c in rec["candidates"] if c.get("chosen")]
    assert len(chosen) == 1 and chosen[0]["score"] == max(c["score"] for c in rec["candidates"])
    assert rec["params"]["layer"] == chosen[0]["params"]["layer"]
    assert "held-out" in rec["candidates_chosen_on"]


def test_without_a_heldout_split_every_choice_says_it_is_optimistic(tmp_path):
    cfg = tiny_study(tmp_path, corpus={"n_center": 0}, sweep={"enabled": False})
    res = run_study(cfg, tmp_path / "out", report=False)
    assert {r["selected_on"] for r in res["leaderboard"]} == {"evaluated"}
    assert "OPTIMISTIC" in res["selection"]["split"]


def test_splits_that_do_not_fit_are_refused_not_clipped(tmp_path):
    cfg = tiny_study(tmp_path, corpus={"n_eval": 30})  # 16 + 8 + 30 > 40 sentences
    with pytest.raises(ConfigError, match="at most 16"):
        run_study(cfg, tmp_path / "out")
    flores = tmp_path / "flores"
    for split in ("dev", "devtest"):
        make_parallel_dir(flores / split, n=20)
        for lang in LANGS:
            (flores / split / f"{lang}.txt").rename(flores / split / f"{lang}_Latn.{split}")
    cfg = tiny_study(
        tmp_path,
        corpus={
            "source": str(flores),
            "split": "devtest",
            "expert_source": str(flores),
            "expert_split": "dev",
            "n_expert": 16,
            "n_center": 8,
            "n_eval": 20,
        },
    )
    with pytest.raises(ConfigError, match="n_eval to at most 12"):
        run_study(cfg, tmp_path / "out2")


def test_subsampling_is_recorded(study):
    cfg, out = study
    res = run_study(cfg, out, report=False)
    (note,) = res["subsampling"]
    assert note["available"] == 40 and note["used"] == 16 + 8 + 14


def test_paraphrase_from_pawsx(study, tmp_path):
    """A PAWS-X file drives Pre/Post/Mixed."""
    cfg, out = study
    rng = np.random.default_rng(1)
    words = ["".join(rng.choice(list("abcdefgh"), 4)) for _ in range(40)]
    rows = ["id\tsentence1\tsentence2\tlabel"]
    for i in range(30):
        s = list(rng.choice(words, 6))
        rows.append(f"{i}\t{' '.join(s)}\t{' '.join(s[::-1])}\t{i % 3 != 0:d}")
    path = tmp_path / "pawsx" / "en" / "test_2k.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    cfg.evaluation.paraphrase_source = str(path)
    cfg.analyses.paraphrase = True
    cfg.sweep.enabled = False
    res = run_study(cfg, out, report=False)
    para = res["targets"]["eng_Latn"]["methods"]["experts"]["paraphrase"]
    assert {"paraphrase.pre", "paraphrase.post", "paraphrase.mixed"} <= set(para)
    assert res["paraphrase_pairs"]["language"] == "eng_Latn"
    assert res["paraphrase_pairs"]["n"] == 14  # as many as evaluated sentences, of 20 pairs


def test_one_pass_per_model_state(study, monkeypatch):
    """One probing pass serves every method and target; one pass per model state embeds the
    evaluated, held-out and paraphrase sentences; the generation sweep re-runs nothing cached."""
    import langsteer.encoding.collect as collect

    calls = {"probing": 0, "embeddings": 0}
    run = collect.fill_pass

    def counting(*args, desc="forward", **kwargs):
        calls[desc] = calls.get(desc, 0) + 1
        return run(*args, desc=desc, **kwargs)

    monkeypatch.setattr(collect, "fill_pass", counting)
    cfg, out = study
    run_study(cfg, out, report=False)
    assert calls["probing"] == 1
    assert calls["embeddings"] == 1 + 2 * 3  # original + 2 targets x 3 model methods
    calls.update(probing=0, embeddings=0)
    import langsteer.generation.sweep as sweep

    monkeypatch.setattr(sweep, "generate_samples", lambda *a, **k: pytest.fail("not cached"))
    run_study(cfg, out, overwrite=True, report=False)
    assert calls == {"probing": 0, "embeddings": 0}


def test_generation_honours_the_methods_positions(tmp_path, monkeypatch):
    """Issue 11: the k sweep forced every position whatever the study said."""
    cfg = tiny_study(
        tmp_path,
        intervention={"positions": "last"},
        sweep={"enabled": True, "ks": [0, 4], "n_samples": 2, "max_new_tokens": 3, "n_ppl": 2},
        methods=[{"name": "experts"}, {"name": "none"}],
    )
    import langsteer.methods.hooks as hooks

    used = []
    attach = hooks.HookSet.attach

    def spy(self):
        used.append(self.positions)
        return attach(self)

    monkeypatch.setattr(hooks.HookSet, "attach", spy)
    run_study(cfg, tmp_path / "out", report=False)
    assert used and set(used) == {"last"}


def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ConfigError, match=r"unknown key experts\.kk"):
        config_from_dict({"experts": {"kk": 3}})
    with pytest.raises(ConfigError, match="unknown section"):
        config_from_dict({"expert": {"k": 3}})
    with pytest.raises(ConfigError, match="integer"):
        config_from_dict({"experts": {"k": "many"}})
    with pytest.raises(ConfigError, match="not one of"):
        config_from_dict({"experts": {"pooling": "median"}})
    with pytest.raises(ConfigError, match="at least 1"):
        config_from_dict({"corpus": {"n_eval": 0}})
    with pytest.raises(ConfigError, match="true or false"):
        config_from_dict({"analyses": {"geometry": "yes"}})
    with pytest.raises(ConfigError, match="steering-vector"):
        config_from_dict({"steering": {"enabled": True}})
    with pytest.raises(ConfigError, match="not a method"):
        config_from_dict({"methods": [{"name": "telepathy"}, {"name": "none"}]})
    with pytest.raises(ConfigError, match="no parameter"):
        config_from_dict({"methods": [{"name": "experts", "kk": 1}, {"name": "none"}]})
    with pytest.raises(ConfigError, match='name = "none"'):
        config_from_dict({"methods": [{"name": "experts"}]})
    with pytest.raises(ConfigError, match="share the label"):
        config_from_dict({"methods": [{"name": "none"}, {"name": "none"}]})
    assert config_from_dict({}).to_dict() == StudyConfig().to_dict()


def test_method_parameters_follow_the_section_defaults():
    cfg = config_from_dict(
        {
            "experts": {"k": 7},
            "methods": [{"name": "experts"}, {"name": "experts", "k": 3}, {"name": "none"}],
        }
    )
    a, b = cfg.methods[:2]
    assert (a.label, b.label) == ("experts", "experts (k=3)")
    assert cfg.method_params(a)["k"] == 7 and cfg.method_params(b)["k"] == 3
    cfg.experts.k = 11  # resolved when used, so a later change counts
    assert cfg.method_params(a)["k"] == 11 and cfg.method_params(b)["k"] == 3
