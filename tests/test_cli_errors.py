"""Bad command lines (issue 11): one-line errors that name a flag, raised before any model loads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from langsteer.cli import main
from langsteer.config import ConfigError, config_from_dict
from langsteer.methods.experts import find_experts
from langsteer.models import load_model, resolve_device, tiny_model
from tests.test_experts import toy_corpus
from tests.test_pipeline import make_parallel_dir, save_tiny_model

GERMAN = [
    "Der Hund läuft schnell über die große Wiese.",
    "Heute scheint die Sonne den ganzen Tag lang.",
    "Meine Großmutter backt jeden Sonntag einen Kuchen.",
    "Wir fahren morgen mit dem Zug nach Berlin.",
    "Das Buch liegt auf dem Tisch neben der Lampe.",
    "Die Kinder spielen im Garten mit dem Ball.",
    "Ich trinke jeden Morgen eine Tasse Kaffee.",
    "Der Winter war in diesem Jahr sehr kalt.",
    "Unser Nachbar repariert sein altes Fahrrad.",
    "Die Stadt hat einen schönen alten Marktplatz.",
    "Er arbeitet seit zehn Jahren in dieser Firma.",
    "Am Abend lesen wir gemeinsam eine Geschichte.",
]


def cli(line: str, *extra: str) -> int:
    """Run the CLI on one command line (split on spaces: pytest's tmp paths have none)."""
    return main([*line.split(), *extra])


def forbid_model_loading(monkeypatch) -> None:
    """Every way a command could load a model fails the test (inputs must be checked first)."""
    import langsteer.models as models
    from langsteer.models import embedded, loading
    from langsteer.study import pipeline

    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the inputs were checked")

    for module, name in (
        (models, "load_model"),
        (loading, "load_model"),
        (pipeline, "load_model"),
        (pipeline, "load_embedded"),
        (embedded, "load_embedded"),
    ):
        monkeypatch.setattr(module, name, refuse)


def _expert_files(tmp_path: Path) -> tuple[Path, Path]:
    """An AUROC and an AP expert file of a tiny model (eng against deu)."""
    loaded, corpus = tiny_model("llama"), toy_corpus(24)
    paths = []
    for score in ("auroc", "ap"):
        experts, _ = find_experts(
            loaded, corpus, ["eng"], negatives=["deu"], k=4, score=score, progress=False
        )
        paths.append(experts["eng_Latn"].save(tmp_path / f"{score}.safetensors"))
    return paths[0], paths[1]


def _bad_corpora(tmp_path: Path) -> dict[str, Path]:
    """Corpus folders with one problem each."""
    folders = {}
    for name, eng in (
        ("empty", ["aaaa bbbb", "", "cccc dddd"]),
        ("repeated", ["aaaa bbbb", "aaaa bbbb", "cccc dddd"]),
        ("mislabelled", GERMAN),
    ):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "eng.txt").write_text("\n".join(eng) + "\n", encoding="utf-8")
        deu = GERMAN if name == "mislabelled" else ["eeee ffff", "gggg hhhh", "iiii jjjj"]
        (folder / "deu.txt").write_text("\n".join(deu) + "\n", encoding="utf-8")
        folders[name] = folder
    return folders


def test_cli_errors_name_flags_not_python_keywords(tmp_path, monkeypatch, capsys):
    forbid_model_loading(monkeypatch)
    c = _bad_corpora(tmp_path)
    good = make_parallel_dir(tmp_path / "corpus")
    expert, _ = _expert_files(tmp_path)
    study = tmp_path / "study.toml"
    study.write_text("")
    out = tmp_path / "out"
    experts = f"experts --target eng deu --n-sentences 2 --out {out}.st --corpus"
    evaluate = f"evaluate --out {out} --languages eng deu --corpus"
    # the flag each message must name; library messages name Python keywords (drop_empty=True,
    # duplicates='drop', public_domain_only=False, language_check="warn"): never shown here
    cases = {
        "--drop-empty": f"{experts} {c['empty']}",
        "--duplicates drop": f"{experts} {c['repeated']}",
        "--allow-copyrighted": f"{experts} bible:KJ2K,ELB1932",
        "--language-check warn": f"{evaluate} {c['mislabelled']}",
        "--corpus": f"{evaluate} {tmp_path / 'nowhere'}",
        "--n-sentences": f"{evaluate} {good} --n-sentences 100",
        "--languages": f"evaluate --corpus {good} --languages deu fra --experts {expert} "
        f"--out {out}",
        "--set SECTION.KEY": f"run {study} --out {out} --set intervention.mode=aura "
        "--set experts.score=ap",
        "--set": f"run {study} --out {out} --set corpus.colour=1",
        "--n-ppl": f"sweep --experts {expert} --corpus {good} --n-ppl 99 --out {out}.json",
        "--steering-vector": f"sweep --experts {expert} --steering-vector --out {out}.json",
    }
    for flag, line in cases.items():
        rc = cli(line)
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("langsteer: error:"), (flag, err)
        assert flag in err and "Traceback" not in err, (flag, err)
        assert re.search(r"\b\w+=(True|False)\b", err) is None and "Python:" not in err, err


def test_commands_check_inputs_before_loading_the_model(tmp_path, monkeypatch, capsys):
    forbid_model_loading(monkeypatch)
    corpus = make_parallel_dir(tmp_path / "corpus")
    expert, ap = _expert_files(tmp_path)
    damaged = tmp_path / "damaged.safetensors"
    damaged.write_bytes(expert.read_bytes()[:-64])
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "results.json").write_text("{}")
    study = tmp_path / "study.toml"
    study.write_text(
        f'[corpus]\nsource = "{corpus}"\n[evaluation]\nlanguages = ["eng", "spa"]\n'
        '[experts]\ntargets = ["eng"]\n'
    )
    out = tmp_path / "out"
    experts = f"experts --corpus {corpus} --out {out} --target eng"
    evaluate = f"evaluate --corpus {corpus} --languages eng deu fra --out {out}"
    sweep = f"sweep --out {out}.json --experts"
    cases = [
        (f"{experts} spa", "spa_Latn"),  # a language the corpus lacks
        (f"{experts} --negatives deu --n-sentences 41", "--n-sentences 41"),  # 40 per language
        (f"{evaluate} --experts {damaged}", str(damaged)),
        (f"{evaluate} --experts {ap} --mode aura", "--score auroc"),
        (f"{evaluate} --random-control", "--experts"),
        (f"evaluate --corpus {corpus} --languages eng --out {taken}", "--overwrite"),
        (f"run {study} --out {out}", "spa_Latn"),
        (f"run {study} --out {out} --set experts.targets=['deu']", "evaluation.languages"),
        (f"demo --out {taken}", "--overwrite"),
        (f"{sweep} {damaged}", str(damaged)),
        (f"{sweep} {expert} {expert}", "two expert files for target eng_Latn"),
        (
            f"{sweep} {expert} --corpus {corpus} --steering-vector --negatives deu --n-probe 30 "
            "--n-ppl 20",
            "--n-probe 30",
        ),
    ]
    for line, expected in cases:
        rc = cli(line)
        err = capsys.readouterr().err
        assert rc == 2 and expected in err, (line, err)
    assert not out.exists() and (taken / "results.json").read_text() == "{}"


# --- moved from tests/test_bad_inputs.py (issue 11, section 4) ----------------------------


def test_missing_accelerators_are_clear_errors(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    for device in ("cuda", "cuda:1", "mps"):
        with pytest.raises(ValueError, match="--device cpu or --device auto"):
            resolve_device(device)
    assert resolve_device("auto") == torch.device("cpu")
    model = save_tiny_model(tmp_path / "model")
    for command in ("experts", "evaluate"):  # refused before any corpus is read
        rc = cli(f"{command} --model {model} --device cuda --corpus x --out {tmp_path / 'e.st'}")
        err = capsys.readouterr().err
        assert rc == 2 and "CUDA is not available" in err and "model.device" in err
        assert "--device cpu" in err


def test_truncated_weights_name_the_file(tmp_path, capsys):
    model = save_tiny_model(tmp_path / "model")
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-10])
    with pytest.raises(ValueError, match="truncated"):
        load_model(str(model))
    corpus = make_parallel_dir(tmp_path / "corpus")  # the corpus is read before the model
    rc = cli(
        f"experts --model {model} --corpus {corpus} --target eng --negatives deu "
        f"--n-sentences 20 --out {tmp_path / 'e.st'}"
    )
    err = capsys.readouterr().err
    assert rc == 2 and str(weights) in err and "Traceback" not in err
    weights.write_bytes(b"\x01")
    with pytest.raises(ValueError, match=str(weights)):
        load_model(str(model))
    weights.unlink()  # missing weights: named, not a traceback
    with pytest.raises(ValueError, match=f"could not load the model from folder {model}"):
        load_model(str(model))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"has no config\.json"):
        load_model(str(tmp_path / "empty"))


def test_out_paths_are_checked_before_the_model_loads(tmp_path, capsys):
    a_file = tmp_path / "taken.txt"
    a_file.write_text("x")
    missing = str(tmp_path / "no-such-model")  # loading it would fail with another message
    study = tmp_path / "study.toml"
    study.write_text(f'[model]\nid = "{missing}"\n')
    expert, _ = _expert_files(tmp_path)
    commands = {
        "run": f"run {study} --out {a_file}",
        "demo": f"demo --out {a_file}",
        "evaluate": f"evaluate --model {missing} --corpus x --languages eng --out {a_file}",
        "experts": f"experts --model {missing} --corpus x --target eng --out {a_file / 'e.st'}",
        "sweep": f"sweep --model {missing} --experts {expert} --out {tmp_path}",
        "sweep-exists": f"sweep --model {missing} --experts {expert} --out {a_file}",
        "experts-exists": f"experts --model {missing} --corpus x --target eng deu --out {expert}",
    }
    # two targets write <stem>.<target>.safetensors: the first existing one is refused
    expert.with_name(f"{expert.stem}.eng_Latn{expert.suffix}").write_bytes(b"x")
    for name, line in commands.items():
        rc = cli(line)
        err = capsys.readouterr().err
        assert rc == 2 and "--out" in err and "does not exist" not in err, (name, err)


def test_non_finite_numbers_are_refused_in_every_float_key(capsys, tmp_path):
    for section, key in (
        ("intervention", "scale"),
        ("intervention", "value"),
        ("sweep", "temperature"),
        ("steering", "strength"),
    ):
        for bad in (float("nan"), float("inf"), -float("inf")):
            with pytest.raises(ConfigError, match=f"{section}.{key} must be .*finite"):
                config_from_dict({section: {key: bad}})
    study = tmp_path / "s.toml"
    study.write_text("")
    rc = cli(f"run {study} --out {tmp_path / 'o'} --set intervention.scale=nan")
    assert rc == 2 and "intervention.scale must be a finite number" in capsys.readouterr().err
