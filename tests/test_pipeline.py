"""The whole study on a tiny random model and a tiny parallel corpus made here."""

from __future__ import annotations

import json

import numpy as np
import pytest

from langsteer.config import StudyConfig, config_from_dict
from langsteer.models import tiny_model
from langsteer.study.pipeline import run_study

LANGS = {"eng": "abcdefgh", "deu": "ijklmnop", "fra": "qrstuvwx"}


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


@pytest.fixture
def study(tmp_path):
    model_dir = save_tiny_model(tmp_path / "model")
    corpus = make_parallel_dir(tmp_path / "corpus")
    cfg = config_from_dict(
        {
            "model": {"id": str(model_dir)},
            "corpus": {"source": str(corpus), "n_expert": 16, "n_center": 8, "n_eval": 14},
            "experts": {"targets": ["eng", "deu"], "k": 8},
            "evaluation": {"languages": ["eng", "deu", "fra"], "n_boot": 200},
            "analyses": {"paraphrase": False},
            "sweep": {
                "enabled": True,
                "ks": [0, 4],
                "n_samples": 2,
                "max_new_tokens": 4,
                "n_ppl": 3,
                "retrieval": True,
            },
            "run": {"cache_dir": str(tmp_path / "cache"), "progress": False, "batch_size": 4},
        }
    )
    return cfg, tmp_path / "out"


def test_full_study(study):
    cfg, out = study
    res = run_study(cfg, out)
    saved = json.loads((out / "results.json").read_text())
    assert saved["targets"].keys() == {"eng_Latn", "deu_Latn"}
    t = saved["targets"]["eng_Latn"]
    pre, post = t["retrieval"]["pre"], t["retrieval"]["post"]
    assert set(pre) == {"eng_Latn", "deu_Latn", "fra_Latn"}
    assert set(pre["eng_Latn"]) == {"deu_Latn", "fra_Latn"}
    assert all(0.0 <= v <= 1.0 for q in post.values() for v in q.values())
    assert t["experts"]["k"] == 8 and (out / "experts" / "eng_Latn.safetensors").exists()
    assert "geometry.pre.mean_pairwise_centroid" in t["geometry"]
    assert "retrieval" in t["random_control"]
    assert t["random_control"]["retrieval"]["pre"] == pre  # same un-intervened space
    assert saved["config"]["experts"]["k"] == 8
    assert saved["corpora"]["eval"]["content_hash"] != saved["corpora"]["experts"]["content_hash"]
    assert {"load_model", "experts", "embeddings_pre", "embeddings_post"} <= set(saved["timings"])
    assert res["targets"]["eng_Latn"]["retrieval"]["post"] == post
    controls = t["controls"]
    assert {"pre", "post", "random"} <= set(controls["table"])
    assert controls["table"]["pre"]["raw"] == pytest.approx(t["retrieval"]["mean_pre"])
    v = controls["verdict"]
    assert v["summary"] and v["best_baseline"] and "winner" in v
    assert any("held-out" in k for k in v if k.startswith("delta."))
    assert saved["corpora"]["center"]["n"] == 8
    sweep = saved["sweep"]["eng_Latn"]
    assert sweep["k"] == [0, 4] and len(sweep["target_rate"]) == 2
    assert sweep["retrieval_mean"][0] == pytest.approx(t["retrieval"]["mean_pre"])
    assert sweep["retrieval_gain"][0] == 0.0 and len(sweep["retrieval_mean_centred"]) == 2
    assert set(saved["generation"]["eng_Latn"]) == {"0", "4"}


def test_rerun_reuses_the_cache(study):
    cfg, out = study
    first = run_study(cfg, out)
    second = run_study(cfg, out)
    assert second["responses"]["cache"]["hit"] is True
    assert json.dumps(first["targets"]) == json.dumps(second["targets"])


def test_config_rejects_unknown_keys_and_bad_values():
    from langsteer.config import ConfigError

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
    assert config_from_dict({}).to_dict() == StudyConfig().to_dict()


def test_paraphrase_from_pawsx_and_no_random_control(study, tmp_path):
    """A PAWS-X file drives Pre/Post/Mixed; the study runs with the random control off."""
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
    cfg.analyses.random_control = False
    cfg.sweep.enabled = False
    res = run_study(cfg, out)
    t = res["targets"]["eng_Latn"]
    assert "random_control" not in t and "verdict" in t["controls"]
    para = t["paraphrase"]
    assert {"paraphrase.pre", "paraphrase.post", "paraphrase.mixed"} <= set(para)
    assert res["paraphrase_pairs"]["language"] == "eng_Latn"
    assert res["paraphrase_pairs"]["n"] == 14  # n_eval of the 20 label-1 pairs


def test_only_what_changes_is_recomputed(study, monkeypatch):
    """One un-intervened pass and one probing pass serve every target, control and k."""
    import langsteer.methods.experts
    import langsteer.study.pipeline

    calls = {"plain": 0, "intervened": 0, "responses": 0}
    encode, collect = (
        langsteer.study.pipeline.encode_distributed,
        langsteer.methods.experts.collect_responses_distributed,
    )

    def counting_encode(*args, intervention=None, **kwargs):
        calls["plain" if intervention is None else "intervened"] += 1
        return encode(*args, intervention=intervention, **kwargs)

    def counting_collect(*args, **kwargs):
        calls["responses"] += 1
        return collect(*args, **kwargs)

    monkeypatch.setattr(langsteer.study.pipeline, "encode_distributed", counting_encode)
    monkeypatch.setattr(langsteer.methods.experts, "collect_responses_distributed", counting_collect)
    cfg, out = study
    run_study(cfg, out)
    assert calls["plain"] == 1 and calls["responses"] == 1
    # per target: experts, random control, and the sweep's k = 4 (k = 0 reuses the plain pass)
    assert calls["intervened"] == 2 * 3
