"""report.md / report.html / figures from a real pipeline result (tiny random model)."""

from __future__ import annotations

import copy
import re
import warnings

import numpy as np
import pytest

from langsteer.config import config_from_dict
from langsteer.evaluation.correlation import paper_correlations
from langsteer.evaluation.evaluators import ParaphraseEvaluator
from langsteer.study.pipeline import run_study
from langsteer.report import build
from langsteer.report import figures as F
from langsteer.report.build import write_report
from tests.test_pipeline import make_parallel_dir, save_tiny_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = [
    "Setup",
    "Where the experts are",
    "Embedding-space geometry (paper Table 1)",
    "Retrieval with the target as query (paper Fig. 4)",
    "Change in retrieval over all language pairs (paper Fig. 5)",
    "Retrieval at every layer",
    "Controls: can something simpler explain the gain?",
    "2-D projection of the embedding space (paper Fig. 6)",
    "Paraphrase retrieval within one language (paper Table 3)",
    "Correlation of retrieval with distance (paper Table 2)",
    "Number of experts: steering vs perplexity (paper Fig. 3)",
    "Generated samples",
    "Timings",
    "Provenance",
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One real study (two targets, random control, controls, correlation, projection, k sweep
    with generation), run once."""
    tmp = tmp_path_factory.mktemp("study")
    save_tiny_model(tmp / "model")
    corpus = make_parallel_dir(tmp / "corpus")
    cfg = config_from_dict({
        "model": {"id": str(tmp / "model")},
        "corpus": {"source": str(corpus), "n_expert": 16, "n_center": 8, "n_eval": 14},
        "experts": {"targets": ["eng", "deu"], "k": 8},
        "evaluation": {"languages": ["eng", "deu", "fra"], "n_boot": 50},
        "analyses": {"paraphrase": False},
        "sweep": {"enabled": True, "ks": [0, 4, 8], "n_samples": 2, "max_new_tokens": 4,
                  "n_ppl": 3, "retrieval": True, "n_keep": 2},
        "run": {"cache_dir": str(tmp / "cache"), "progress": False, "batch_size": 8},
    })  # fmt: skip
    return run_study(cfg, tmp / "out")


@pytest.fixture
def res(results):
    return copy.deepcopy(results)


def with_extras(res: dict) -> dict:
    """Add what the tiny study cannot make: paraphrase (real evaluator), a defined r."""
    rng = np.random.default_rng(0)
    q, c = rng.normal(size=(12, 8)), rng.normal(size=(12, 8))
    para = ParaphraseEvaluator().evaluate((q, q + 0.1 * c), (q, q + 0.5 * c))
    for t in res["targets"].values():
        t["paraphrase"] = dict(para)
        t["random_control"]["paraphrase"] = dict(para)
    five = ["a", "b", "c", "d", "e"]
    acc0, acc1, d0, d1 = (dict(zip(five, rng.random(5).tolist(), strict=True)) for _ in range(4))
    res["targets"]["deu_Latn"]["correlation"] = paper_correlations(acc0, acc1, d0, d1, n_boot=50)
    res["generation"]["eng_Latn"]["4"]["samples"].append("<b>x")
    return res


def pngs(out) -> list:
    return sorted((out / "figures").glob("*.png"))


def test_full_report(res, tmp_path):
    pytest.importorskip("matplotlib")
    res = with_extras(res)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no section or figure may fail
        written = write_report(res, tmp_path)
    assert written == {
        "markdown": tmp_path / "report.md",
        "html": tmp_path / "report.html",
        "figures": tmp_path / "figures",
    }
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    files = pngs(tmp_path)
    # per target: experts, top-1, delta, layers, controls per layer, projection, sweep
    assert len(files) == 14
    assert sum(f.name.startswith("controls_layers_") for f in files) == 2
    for f in files:
        data = f.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) < 150_000
        assert f"](figures/{f.name})" in md  # Markdown points at every figure
    assert set(re.findall(r"\(figures/([^)]+\.png)\)", md)) == {f.name for f in files}
    # HTML is self-contained: every figure inline, nothing fetched, no scripts
    assert page.count('src="data:image/png;base64,') == len(files)
    assert 'src="http' not in page and "<script" not in page and "<link" not in page
    for title in SECTIONS:
        assert f"## {title}" in md
        assert f">{title}</h2>" in page.replace("&#x27;", "'")
    for lang in ("English", "German", "French"):
        assert lang in md and lang in page
    assert "ties strict" in md  # every retrieval number names its variant
    assert "Random units of the same count" in md  # the Sec. 7 comparison is spelled out
    assert "Against the controls: " in md and "per-language centring, held-out means" in md
    assert "whitening, held-out estimate" in md and "Whitening shrinkage used" in md
    assert "could not be" not in md  # no section or figure fell back to a note
    assert "Mixed" in md and "pairs" in md  # paraphrase table
    assert re.search(r"\| -?\d\.\d\d \| \[-?\d\.\d\d, -?\d\.\d\d\] \|", md)  # r [CI]
    assert "r undefined" in md  # the degenerate rows say why
    assert "&lt;b&gt;x" in page  # generated samples are text, not markup
    assert not list(tmp_path.rglob(".*"))  # atomic writes leave no temporary files


def test_degenerate_correlation_reads_na(res, tmp_path, monkeypatch):
    monkeypatch.setattr(F, "available", lambda: False)  # tables only: faster
    row = res["targets"]["eng_Latn"]["correlation"]["acc_post~d_post"]
    assert row["r"] is None  # 2 candidate languages: r is undefined
    write_report(res, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "r undefined" in md and "| n/a |" in md


def test_missing_optional_parts(res, tmp_path):
    pytest.importorskip("matplotlib")
    for t in res["targets"].values():
        for key in ("random_control", "projection", "paraphrase", "controls"):
            t.pop(key, None)
        t["correlation"] = {"note": "need at least 3 languages"}
    res.pop("baseline")
    res["targets"]["deu_Latn"].pop("geometry")
    res["timings"] = "oops"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_report(res, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "No random-unit control was run" in md
    assert "Not run (analyses.paraphrase" in md
    assert "need at least 3 languages" in md
    assert "could not be" not in md
    assert not list((tmp_path / "figures").glob("projection_*"))
    assert len(pngs(tmp_path)) == 10  # 5 per target: no projection


def test_empty_and_unknown_results_do_not_crash(tmp_path, monkeypatch):
    monkeypatch.setattr(F, "available", lambda: False)
    write_report({}, tmp_path)
    assert "nothing to report" in (tmp_path / "report.md").read_text(encoding="utf-8")
    odd = {"targets": {"eng_Latn": {"retrieval": {"pre": 3}, "new_thing": {}}}, "controls": [1]}
    write_report(odd, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "controls" in md and "new_thing" in md  # listed as not shown


def test_a_failing_section_becomes_a_note(res, tmp_path, monkeypatch):
    monkeypatch.setattr(F, "available", lambda: False)

    def broken(ctx):
        raise RuntimeError("boom")

    sections = [(t, broken if t == "Timings" else f) for t, f in build.SECTIONS]
    monkeypatch.setattr(build, "SECTIONS", sections)
    with pytest.warns(UserWarning, match="Timings"):
        write_report(res, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "could not be rendered (RuntimeError: boom)" in md and "## Provenance" in md


def test_without_matplotlib(res, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    assert not F.available()
    written = write_report(res, tmp_path)
    assert "figures" not in written and not (tmp_path / "figures").exists()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "matplotlib is not installed" in page and "data:image" not in page


def test_html_and_markdown_escape_text(res, tmp_path, monkeypatch):
    monkeypatch.setattr(F, "available", lambda: False)
    evil = "<script>alert(1)</script>"
    res["model"]["id"] = evil
    res["config"]["model"]["id"] = evil
    res["languages"]["evaluation"].append(evil)
    res["targets"]["eng_Latn"]["retrieval"]["pre"]["eng_Latn"][evil] = 0.5
    write_report(res, tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    outside_code = re.sub(r"```.*?```", "", md, flags=re.S)  # code blocks are inert in Markdown
    assert "<script" not in outside_code and "&lt;script&gt;" in outside_code


def test_writes_are_atomic(res, tmp_path, monkeypatch):
    monkeypatch.setattr(F, "available", lambda: False)
    write_report(res, tmp_path)
    before = (tmp_path / "report.html").read_bytes()

    # a lone surrogate cannot be encoded: the write fails half-way through the file
    monkeypatch.setattr(build, "render_html", lambda blocks, title: "<html>" * 1000 + "\ud800")
    with pytest.raises(UnicodeEncodeError):
        write_report(res, tmp_path)
    assert (tmp_path / "report.html").read_bytes() == before  # the old report survives whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]
