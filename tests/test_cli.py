"""The ``langsteer`` commands and ``langsteer.compare`` on a tiny model and corpus."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import langsteer
from langsteer.cli import build_parser, main
from langsteer.cli.flags import SECTIONS, config_data, config_default, config_flags
from langsteer.cli.study import _with_flags, evaluate_config
from langsteer.config import ConfigError, ExpertsConfig, RunConfig, load_config
from langsteer.methods.experts import ExpertSet
from tests.test_cli_errors import cli
from tests.test_pipeline import make_parallel_dir, save_tiny_model

ROOT = Path(__file__).resolve().parents[1]
#: flags whose default deliberately differs from the config's (each says why in its help)
UNLIKE_CONFIG = {("evaluate", "corpus.n_eval"), ("sweep", "corpus.source")}


@pytest.fixture
def setup(tmp_path):
    model_dir = save_tiny_model(tmp_path / "model")
    corpus = make_parallel_dir(tmp_path / "corpus", n=60)
    return tmp_path, str(model_dir), str(corpus)


def _experts(tmp, model, corpus, name="e.safetensors", *extra) -> Path:
    out = tmp / "experts" / name
    line = f"experts --model {model} --corpus {corpus} --target eng --negatives fra --k 6"
    argv = [*line.split(), "--n-sentences", "20", "--no-progress", "--out", str(out), *extra]
    assert main(argv) == 0
    return out


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_experts_then_evaluate(setup, capsys):
    tmp, model, corpus = setup
    common = f"--model {model} --corpus {corpus} --no-progress"
    out = _experts(tmp, model, corpus)
    printed = capsys.readouterr().out
    assert "by layer" in printed and "by module kind" in printed
    assert "subsampled corpus sentences: 20 of 60" in printed  # issue 11: said, not silent
    ex = ExpertSet.load(out)
    assert ex.target == "eng_Latn" and ex.k == 6
    assert ex.meta["corpus"]["provenance"]["partition"]["sizes"] == {"probe": 20}

    # without --random-control (and with the report) and with it (without the report)
    for extra in ([], ["--random-control", "--no-report"]):
        run = tmp / f"eval{len(extra)}"
        line = f"evaluate {common} --experts {out} --languages eng deu fra --n-center 8"
        rc = cli(line, "--n-boot", "50", "--out", str(run), *extra)
        assert rc == 0
        results = json.loads((run / "results.json").read_text())
        assert next(iter(results)) == "leaderboard"
        labels = {r["method"] for r in results["leaderboard"]}
        expected = {"experts", "none", "global-centring", "per-language-centring", "whitening"}
        assert labels == expected | ({"random-units"} if extra else set())
        assert set(results["targets"]["eng_Latn"]["methods"]) == (
            {"experts", "random-units"} if extra else {"experts"}
        )
        # every sentence pair of the corpus is used: 8 held out, the other 52 evaluated
        assert results["subsampling"] == [] and results["corpora"]["eval"]["n"] == 52
        assert results["config"]["corpus"]["n_expert"] == 0
        assert (run / "report.html").exists() != bool(extra)
        assert not (run / "metrics.json").exists()
        assert "method" in capsys.readouterr().out


def test_bad_input_is_a_clear_error_not_a_traceback(setup, capsys):
    tmp, model, corpus = setup
    rc = cli(f"experts --model {model} --corpus {corpus} --target xxx_Zzzz --out {tmp}/x.st")
    assert rc == 2
    err = capsys.readouterr().err
    assert "langsteer: error: --target xxx_Zzzz" in err and "Traceback" not in err
    assert not (tmp / "x.st").exists()


def test_flag_defaults_are_the_config_defaults():
    checked = 0
    for command, p in _subparsers().items():
        for key, action in config_flags(p).items():
            if command in ("run", "demo"):  # overrides: the study file decides when not given
                assert action.default is argparse.SUPPRESS, (command, key)
            elif (command, key) in UNLIKE_CONFIG:
                assert action.unlike_config and action.default != config_default(key)
            else:
                assert action.unlike_config is None, (command, key)
                assert action.default == config_default(key), (command, key)
                checked += 1
    assert checked > 60
    unlike = {
        (c, k)
        for c, p in _subparsers().items()
        for k, a in config_flags(p).items()
        if a.unlike_config
    }
    assert unlike == UNLIKE_CONFIG
    # the defaults that once differed between the CLI and the config
    experts = _subparsers()["experts"]
    args = experts.parse_args(["--out", "x"])
    assert getattr(args, "experts.k") == ExpertsConfig.k
    assert getattr(args, "run.max_length") == RunConfig.max_length
    assert getattr(args, "run.batch_size") == RunConfig.batch_size
    for section, values in config_data(args).items():
        defaults = dataclasses.asdict(SECTIONS[section]())
        assert all(defaults[k] == v for k, v in values.items()), section


def test_flags_reach_the_config(setup, tmp_path):
    _, model, corpus = setup
    p = build_parser()
    line = (
        f"evaluate --model {model} --corpus {corpus} --languages en de --n-boot 7 --max-length 9 "
        "--batch-size 3 --language-check warn --allow-copyrighted --duplicates drop --drop-empty "
        "--dtype float16 --device cpu --value 2.5 --mode add --out o"
    )
    args = p.parse_args(line.split())
    config, targets = evaluate_config(args)
    assert targets == []
    assert config.evaluation.n_boot == 7 and config.run.max_length == 9
    assert config.run.batch_size == 3 and config.model.dtype == "float16"
    c = config.corpus
    assert (c.language_check, c.allow_copyrighted, c.duplicates, c.drop_empty) == (
        "warn",
        True,
        "drop",
        True,
    )
    assert c.n_eval is None and c.n_expert == 0
    assert config.intervention.value == 2.5 and config.intervention.mode == "add"
    assert [m.name for m in config.methods] == [
        "none",
        "global-centring",
        "per-language-centring",
        "whitening",
    ]
    # run: the study file decides unless a flag is given; --set is applied last
    study = tmp_path / "s.toml"
    study.write_text('[model]\ndtype = "bfloat16"\n[run]\nbatch_size = 5\nmax_length = 7\n')
    line = f"run {study} --out o --max-length 11 --drop-empty --set run.batch_size=6"
    args = p.parse_args(line.split())
    config = _with_flags(load_config(study), args)
    assert (config.model.dtype, config.run.batch_size, config.run.max_length) == ("bfloat16", 6, 11)
    assert config.corpus.drop_empty and config.corpus.language_check == "error"


def test_entry_points():
    project = (ROOT / "pyproject.toml").read_text()
    assert 'langsteer = "langsteer.cli:main"' in project
    done = subprocess.run(
        [sys.executable, "-m", "langsteer.cli", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0 and done.stdout.strip() == f"langsteer {langsteer.__version__}"
    cheap = "import sys, langsteer; assert 'torch' not in sys.modules; print(langsteer.compare)"
    done = subprocess.run(
        [sys.executable, "-c", cheap], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "function compare" in done.stdout, done.stderr


def test_allow_other_model_reaches_the_intervention(setup, capsys):
    tmp, model, corpus = setup
    expert = _experts(tmp, model, corpus)
    other = shutil.copytree(model, tmp / "same-weights-elsewhere")  # same architecture, new id
    common = f"--model {other} --corpus {corpus} --no-progress --experts {expert}"
    evaluate = (
        f"evaluate {common} --languages eng deu fra --n-sentences 10 --n-center 8 --n-boot 20 "
        "--no-report"
    )
    capsys.readouterr()
    assert cli(evaluate, "--out", str(tmp / "refused")) == 2
    err = capsys.readouterr().err
    assert "--allow-other-model" in err and "=True" not in err
    assert cli(evaluate, "--allow-other-model", "--out", str(tmp / "ok")) == 0
    results = json.loads((tmp / "ok" / "results.json").read_text())
    assert "experts" in results["targets"]["eng_Latn"]["methods"]
    # --n-sentences subsamples: recorded and printed
    (note,) = results["subsampling"]
    assert (note["used"], note["available"]) == (18, 60)
    assert "subsampled" in capsys.readouterr().out
    sweep = f"sweep {common} --ks 0 2 --n-samples 1 --max-new-tokens 2 --out {tmp}/s.json"
    assert cli(sweep) == 2
    assert "--allow-other-model" in capsys.readouterr().err
    assert cli(sweep, "--allow-other-model") == 0


def test_sweep_records_its_splits_and_resumes(setup, monkeypatch, capsys):
    from langsteer.generation import sweep as gen

    tmp, model, corpus = setup
    expert = _experts(tmp, model, corpus)
    out = tmp / "sweep.json"
    sweep = (
        f"sweep --model {model} --experts {expert} --corpus {corpus} --steering-vector "
        f"--negatives deu --n-probe 20 --n-ppl 4 --n-samples 2 --max-new-tokens 3 --no-progress "
        f"--out {out} --ks 0 3"
    )
    assert cli(sweep) == 0
    printed = capsys.readouterr().out
    assert "subsampled corpus sentences: 24 of 60" in printed and f"wrote {out}" in printed
    res = json.loads(out.read_text())
    assert set(res["targets"]["eng_Latn"]) == {"experts", "steering-vector"}
    assert res["targets"]["eng_Latn"]["experts"]["k"] == [0, 3]
    splits = res["splits"]
    assert splits["probe"]["n"] == 20 and splits["perplexity"]["n"] == 4 and splits["seed"] == 0
    assert not set(splits["probe"]["ids"]) & set(splits["perplexity"]["ids"])
    assert res["fitted"]["eng_Latn"]["steering-vector"]["layer"] >= 1
    assert res["expert_files"]["eng_Latn"] == str(expert)

    assert cli(sweep) == 2  # no silent overwrite
    assert "--overwrite" in capsys.readouterr().err
    calls = []
    real = gen.generate_samples
    monkeypatch.setattr(gen, "generate_samples", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert cli(sweep, "5", "--overwrite") == 0  # resumes: only k = 5 is new
    assert len(calls) == 1
    again = json.loads(out.read_text())
    rows = again["targets"]["eng_Latn"]["experts"]
    assert rows["k"] == [0, 3, 5]
    assert rows["log_ppl"][:2] == res["targets"]["eng_Latn"]["experts"]["log_ppl"]


def test_run_a_study_file(setup, capsys):
    tmp, model, corpus = setup
    study = tmp / "study.toml"
    study.write_text(
        f'[model]\nid = "{model}"\n'
        f'[corpus]\nsource = "{corpus}"\nn_expert = 16\nn_center = 8\nn_eval = 14\n'
        '[experts]\ntargets = ["eng"]\nnegatives = ["deu"]\nk = 8\n'
        '[evaluation]\nlanguages = ["eng", "deu", "fra"]\nn_boot = 50\n'
        "[analyses]\nparaphrase = false\n"
        '[[methods]]\nname = "experts"\n[[methods]]\nname = "none"\n'
    )
    out = tmp / "run"
    argv = ["run", str(study), "--out", str(out), "--no-progress", "--no-report"]
    assert main([*argv, "--set", "experts.k=4", "--batch-size", "4"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["config"]["experts"]["k"] == 4 and results["config"]["run"]["batch_size"] == 4
    assert (out / "experts").is_dir() and not (out / "report.html").exists()
    printed = capsys.readouterr().out
    assert "experts" in printed and f"wrote {out}" in printed
    assert main(argv) == 2  # an earlier run is never mixed with a new one
    assert "--overwrite" in capsys.readouterr().err


# --- langsteer.compare ------------------------------------------------------------------------


def test_compare_runs_a_study_without_a_file(setup):
    tmp, model, corpus = setup
    options = {
        "model": model,
        "corpus": corpus,
        "languages": ["eng", "deu", "fra"],
        "targets": ["eng"],
        "negatives": ["deu"],
        "methods": [{"name": "experts", "k": 4}, "none", "per-language-centring"],
        "n_expert": 16,
        "n_center": 8,
        "n_eval": 14,
        "n_boot": 50,
        "analyses": {"paraphrase": False},
        "run": {"progress": False, "batch_size": 4},
    }
    results = langsteer.compare(**options)
    assert next(iter(results)) == "leaderboard"
    assert {r["method"] for r in results["leaderboard"]} == {
        "experts",
        "none",
        "per-language-centring",
    }
    assert results["config"]["experts"]["k"] == ExpertsConfig.k  # the method gives its own:
    assert results["targets"]["eng_Latn"]["methods"]["experts"]["params"]["k"] == 4
    assert results["config"]["corpus"]["n_eval"] == 14
    out = tmp / "kept"
    again = langsteer.compare(**options, out=out, report=False)
    assert (out / "results.json").exists() and not (out / "report.html").exists()
    assert again["leaderboard"] == results["leaderboard"]


def test_compare_validates_every_key_as_a_study_file():
    from langsteer.api import compare_config

    config = compare_config(k=300, dtype="bfloat16", run={"batch_size": 4})
    assert (config.experts.k, config.model.dtype, config.run.batch_size) == (300, "bfloat16", 4)
    with pytest.raises(ConfigError, match=r"experts\.k = 0"):
        compare_config(k=0)
    with pytest.raises(ConfigError, match=r"'seed' is a key of several sections"):
        compare_config(seed=1)
    with pytest.raises(ConfigError, match="has no option 'colour'"):
        compare_config(colour="red")
    with pytest.raises(ConfigError, match="given twice"):
        compare_config(k=3, experts={"k": 4})
    with pytest.raises(ConfigError, match="not a method"):
        compare_config(methods=["experts", "none", "no-such-method"])
    with pytest.raises(ValueError, match="give out="):
        langsteer.compare(report=True)
