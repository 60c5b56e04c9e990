"""The `langsteer experts` and `langsteer evaluate` commands on a tiny model and corpus."""

from __future__ import annotations

import json

import pytest

from langsteer.cli import main
from langsteer.methods.experts import ExpertSet
from tests.test_pipeline import make_parallel_dir, save_tiny_model


@pytest.fixture
def setup(tmp_path):
    model_dir = save_tiny_model(tmp_path / "model")
    corpus = make_parallel_dir(tmp_path / "corpus", n=60)
    return tmp_path, str(model_dir), str(corpus)


def test_experts_then_evaluate(setup, capsys):
    tmp, model, corpus = setup
    cache = str(tmp / "cache")
    common = ["--model", model, "--corpus", corpus, "--cache-dir", cache]
    out = tmp / "experts" / "e.safetensors"
    rc = main(["experts", *common, "--target", "eng", "--negatives", "fra", "--k", "6",
               "--n-sentences", "20", "--out", str(out)])  # fmt: skip
    assert rc == 0 and out.exists()
    printed = capsys.readouterr().out
    assert "by layer" in printed and "by module kind" in printed
    ex = ExpertSet.load(out)
    assert ex.target == "eng_Latn" and ex.k == 6

    # without --random-control (the control is off) and with it
    for extra in ([], ["--random-control"]):
        run = tmp / f"eval{len(extra)}"
        rc = main(["evaluate", *common, "--experts", str(out), "--languages", "eng", "deu",
                   "fra", "--n-sentences", "20", "--out", str(run), *extra])  # fmt: skip
        assert rc == 0
        metrics = json.loads((run / "metrics.json").read_text())
        t = metrics["targets"]["eng_Latn"]
        assert set(t["retrieval"]["post"]["eng_Latn"]) == {"deu_Latn", "fra_Latn"}
        assert ("random_control" in t) == bool(extra)
        assert "verdict" in t["controls"]
        assert (run / "report.html").exists() and not (run / "results.json").exists()


def test_bad_input_is_a_clear_error_not_a_traceback(setup, capsys):
    tmp, model, corpus = setup
    rc = main(["experts", "--model", model, "--corpus", corpus, "--target", "xxx_Zzzz",
               "--out", str(tmp / "x.safetensors")])  # fmt: skip
    assert rc == 2
    assert "langsteer: error:" in capsys.readouterr().err
    assert not (tmp / "x.safetensors").exists()
