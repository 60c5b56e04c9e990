"""report.md / report.html / figures from a real tiny study (random-weight model, made here)."""

from __future__ import annotations

import copy
import json
import re
import warnings

import numpy as np
import pytest

from langsteer.config import config_from_dict
from langsteer.io import strict_json
from langsteer.report import build, paper
from langsteer.report import figures as F
from langsteer.report.board import BEST, compact, short_names, verdict
from langsteer.report.build import build_blocks, write_report
from langsteer.report.headline import MARK
from langsteer.report.html import render_html
from langsteer.report.markdown import DITTO, Para, Side, Table, render_markdown
from langsteer.report.text import study_summary_table
from langsteer.study.pipeline import run_study
from tests.test_pipeline import make_parallel_dir, save_tiny_model

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SECTIONS = [
    "Full leaderboard: every model method under every embedding method",
    "The untouched model at every layer",
    "What each model method attached",
    "English (eng_Latn): the paper's measurements of every model method",
    "German (deu_Latn): the paper's measurements of every model method",
    "Where the experts are",
    "Parameters chosen on the held-out split",
    "Generation: target-language share and perplexity (paper Fig. 3)",
    "What was subsampled",
    "Setup",
    "Timings",
    "Provenance",
]
PARTS = [title for title, _ in paper.PARTS]


def pawsx_file(root):
    """A PAWS-X-shaped file of English paraphrase pairs (the second side reversed)."""
    rng = np.random.default_rng(1)
    words = ["".join(rng.choice(list("abcdefgh"), 4)) for _ in range(40)]
    rows = ["id\tsentence1\tsentence2\tlabel"]
    for i in range(30):
        s = list(rng.choice(words, 6))
        rows.append(f"{i}\t{' '.join(s)}\t{' '.join(s[::-1])}\t{i % 3 != 0:d}")
    path = root / "pawsx" / "en" / "test_2k.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """One real study, run once: two targets, experts, random units, a steering vector with two
    candidate strengths (chosen on held-out), paraphrase, correlation, projection, generation."""
    tmp = tmp_path_factory.mktemp("study")
    save_tiny_model(tmp / "model")
    corpus = make_parallel_dir(tmp / "corpus")
    methods = ["experts", "random-units", "none", "per-language-centring", "whitening"]
    sweep = {"enabled": True, "ks": [0, 4], "n_samples": 2, "max_new_tokens": 4, "n_ppl": 3}
    evaluation = {"languages": ["eng", "deu", "fra"], "n_boot": 50}
    cfg = config_from_dict(
        {
            "model": {"id": str(tmp / "model")},
            "corpus": {"source": str(corpus), "n_expert": 16, "n_center": 8, "n_eval": 14},
            "experts": {"targets": ["eng", "deu"], "k": 8},
            "evaluation": {**evaluation, "paraphrase_source": str(pawsx_file(tmp))},
            "methods": [
                *({"name": m} for m in methods),
                {"name": "steering-vector", "strength": [0.5, 2.0]},
            ],
            "sweep": {**sweep, "n_keep": 2},
            "run": {"cache_dir": str(tmp / "cache"), "progress": False, "batch_size": 8},
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny data: "unreliable experts" warnings
        return run_study(cfg, tmp / "out", report=False)


@pytest.fixture
def res(results):
    return copy.deepcopy(strict_json(results))


@pytest.fixture
def no_figures(monkeypatch):
    monkeypatch.setattr(F, "available", lambda: False)  # tables only: fast


def first_screen_html(page: str) -> str:
    body = page.split("<body>", 1)[1]
    return body.split("<details", 1)[0]


def first_table_md(md: str) -> list[str]:
    """The rows of the compact leaderboard (the first Markdown table)."""
    lines = md.split("\n## ", 1)[0].splitlines()
    return [x for x in lines if x.startswith("| ")][1:]


def cells_md(row: str) -> list[str]:
    """One Markdown table row's cells, a ditto mark read as the cell on its left."""
    cells = row.strip("| ").split(" | ")
    for j in range(1, len(cells)):
        cells[j] = cells[j - 1] if cells[j] == DITTO else cells[j]
    return cells


def test_full_report(res, tmp_path):
    pytest.importorskip("matplotlib")
    res["generation"]["targets"]["eng_Latn"]["experts"]["samples"]["4"].append("<b>x")
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
    files = sorted((tmp_path / "figures").glob("*.png"))
    # headline + per target: Fig. 4, 5, per layer, Fig. 6, generation, the experts (not the
    # random units: drawn when attached)
    assert len(files) == 1 + 2 * 6
    assert "random non-expert units (seed 0), drawn when attached" in md
    for f in files:
        data = f.read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) < 150_000
    assert set(re.findall(r"\(figures/([^)]+\.png)\)", md)) == {f.name for f in files}
    # one self-contained file: every figure inline, nothing fetched or linked, no scripts
    assert page.count('src="data:image/png;base64,') == len(files)
    assert len(re.findall(r"\ssrc=", page)) == len(files)
    assert not re.search(r"\shref=|<link|<script|url\(", page)
    # the first screen: the verdict, the compact leaderboard, exactly one figure, nothing else
    first = first_screen_html(page)
    assert first.count("<img") == 1 and first.count("<table") == 1
    assert first.count('<p class="summary">') == 1 and "<h2" not in first
    # the table and the figure side by side (a wrapping flex row), each its own item
    side = first.split('<div class="side">', 1)[1]
    assert side.index('<div><div class="table-scroll"><table class="compact">') < side.index(
        "<div><figure><img"
    )
    summary = re.search(r'<p class="summary">(.*?)</p>', first)[1]
    assert summary.startswith("Baseline: ") and "on the untouched model" in summary
    assert len(summary) < 400 and "chosen on" not in summary  # short; the split: in the caption
    assert "were chosen on the held-out split" in first
    # untouched-model rows: marked, grouped first, one value across the target columns
    cols, lines = compact(res)
    untouched = [ln for ln in lines if ln.kind != "model"]
    once = [ln for ln in untouched if ln.best in (set(), set(cols))]  # (a star in one column:
    rows = first_table_md(md)  # the row repeats, so the star shows where it belongs)
    assert untouched and once
    for row, line in zip(rows, untouched, strict=False):
        assert row.startswith(f"| {MARK} {line.title} | ")
        assert row.endswith(f" | {DITTO} |") == (line in once)
    assert first.count('colspan="2"') == len(once)  # two targets
    assert not any(r.startswith(f"| {MARK}") for r in rows[len(untouched) :])
    assert md.split("\n## ", 1)[0].count("![") == 1
    # every section follows, collapsed in HTML, plain in Markdown
    for title in SECTIONS:
        assert f"\n## {title}\n" in md
        assert f"<summary>{title}</summary>" in page.replace("&#x27;", "'")
    assert page.count("<details") == page.count("</details>") >= len(SECTIONS)
    for title in PARTS:
        assert md.count(f"### {title}") == 2  # one per target
    assert "could not be" not in md  # no section or figure fell back to a note
    assert "ties strict" in md  # every retrieval number names its variant
    assert "variant.medoid = point" in md and "medoid = the sentence embedding" in md
    assert "the layer and embedding method of the method's leaderboard row (chosen on" in md
    assert "| Model method | Pre | Post | Mixed | n |" in md and "| 14 pairs |" in md
    assert re.search(
        r"\| 2 \| [\d.]+% \| (none|whitening|per-language-centring) \| \d \| chosen", md
    )
    assert "unsteered model" in md and "&lt;b&gt;x" in page  # samples are text, not markup
    assert "corpus sentences: 38 of 40 used" in md
    assert "Language check of every corpus column" in md and "unchecked" in md
    assert not list(tmp_path.rglob(".*"))  # atomic writes leave no temporary files


def test_best_per_column_is_marked_and_in_sample_rows_are_not(res, tmp_path, no_figures):
    board = res["leaderboard"]
    row = next(r for r in board if r["method"] == "experts" and r["target"] == "deu_Latn")
    row.update(top1=0.97, selection_score=9.0, in_sample=False)
    oracle = {**board[0], "method": "oracle", "embedding": "oracle", "top1": 0.99}
    oracle.update(in_sample=True, verdict="better", selection_score=9.0)
    board.insert(1, oracle)
    next(r for r in board if r["method"] == "whitening")["supervised"] = True
    write_report(res, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    rows = {cells_md(r)[0]: cells_md(r) for r in first_table_md(md)}
    assert rows["experts"][2].startswith(f"**{BEST} 97.0 ")  # German column
    assert BEST not in rows["experts"][1]  # not the best for English
    assert BEST not in "".join(rows[f"{MARK} oracle (in-sample: OPTIMISTIC)"])  # never "best"
    assert f"{MARK} whitening (supervised)" in rows
    cols, lines = compact(res)
    for j, col in enumerate(cols):  # exactly the best fair cell(s) of each column are marked
        fair = [ln.cells[col]["top1"] for ln in lines if ln.cells.get(col)]
        fair_best = max(
            ln.cells[col]["top1"] for ln in lines if ln.cells.get(col) and "oracle" not in ln.label
        )
        assert max(fair) == 0.99
        marked = [r for r in rows.values() if BEST in r[1 + j]]
        assert marked and all(f"{100 * fair_best:.1f} " in r[1 + j] for r in marked)
    assert f'<td class="best"><strong>{BEST} 97.0 ' in page


def test_verdict_says_per_target_which_model_method_beats_the_baseline(res):
    board, cols = res["leaderboard"], compact(res)[0]
    said = verdict(res)
    assert said.startswith(f"Baseline: {res['baseline']['method']}")
    assert f"at layer {res['baseline']['layer']}." in said
    for r in board:
        r["verdict"] = "no difference" if r["verdict"] == "better" else r["verdict"]
    assert "No model method beats it beyond the 95% interval for any target (" in verdict(res)
    for ln in compact(res)[1]:
        if ln.kind == "model":
            row = ln.cells[cols[1]]  # the held-out-chosen combination for German
            row.update(verdict="better", delta=0.031 if ln.label == "experts" else 0.012)
    said = verdict(res)
    assert "Beating it beyond the 95% interval: German: experts +3.1 pp, " in said
    assert "and 1 more; none for English." in said  # three model methods: the largest two
    assert len(said) < 300
    res["selection"] = {"how": "evaluated"}
    assert verdict(res).endswith("every number is OPTIMISTIC.")
    res["leaderboard"] = [r for r in board if r["kind"] != "model"]
    assert "No model method was compared" in verdict(res)


def test_short_names_of_embedding_methods():
    from langsteer.report.board import Line

    embs = ["none", "whitening", "lsar", "foo-bar-baz", "fancymethod", "fancyother", "wh"]
    cells = {f"t{i}": {"embedding": e} for i, e in enumerate(embs)}
    got = short_names(
        [Line("m", "model", cells), Line("u", "embedding", {"t": {"embedding": "x"}})]
    )
    assert got == {
        "none": "raw",
        "whitening": "wh",
        "lsar": "lsar",
        "foo-bar-baz": "fbb",
        "fancymethod": "fancy",
        "fancyother": "fancy2",  # unique, so the legend can say which is which
        "wh": "wh2",
    }


def test_side_and_merged_cells_render_in_both_formats():
    table = Table(["Method", "A", "B", "C"], [["u", "1.0 x"], ["m", "2", "3", "4"]], "", {(0, 1)})
    table.merged, table.kind = {0}, "compact"
    blocks = [Side([table, Para("beside")]), Para("after")]
    md = render_markdown(blocks)
    assert f"| u | **1.0 x** | {DITTO} | {DITTO} |\n| m | 2 | 3 | 4 |" in md
    assert md.index("beside") < md.index("after")  # Markdown: the children in order
    page = render_html(blocks, "t")
    assert '<div class="side">\n<div><div class="table-scroll"><table class="compact">' in page
    assert '<td class="best merged" colspan="3"><strong>1.0 x</strong></td></tr>' in page
    assert "</table></div></div>\n<div><p>beside</p></div>\n</div>\n<p>after</p>" in page


def test_headline_dot_plot_is_compact():
    pytest.importorskip("matplotlib")
    rows = [(f"untouched {i}", [(F.UNTOUCHED, 0.9, (0.88, 0.93))]) for i in range(6)]
    rows += [(f"method {i}", [(t, 0.95, (0.93, 0.97)) for t in "ABCD"]) for i in range(6)]
    png = F.leaderboard_dots(rows, 0.92, "baseline", 3.2)
    width, height = (int.from_bytes(png[k : k + 4], "big") for k in (16, 20))
    assert png.startswith(PNG_MAGIC) and width == 320
    assert height < 450  # 12 methods x 4 targets: a bar chart needed about 900 px
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert F.leaderboard_dots([], None, "baseline").startswith(PNG_MAGIC)  # nothing to draw


def test_a_failing_section_becomes_a_note(res, tmp_path, monkeypatch, no_figures):
    def broken(*args):
        raise RuntimeError("boom")

    sections = [(t, broken if t == "Timings" else f) for t, f in build.SECTIONS]
    monkeypatch.setattr(build, "SECTIONS", sections)
    parts = [(t, broken if t.startswith("Embedding-space geometry") else f) for t, f in paper.PARTS]
    monkeypatch.setattr(build, "PARTS", parts)
    with pytest.warns(UserWarning) as caught:
        write_report(res, tmp_path)
    assert len(caught) == 3 and "Timings" in str(caught[-1].message)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert md.count("could not be rendered (RuntimeError: boom)") == 1 + 2  # Timings, 2 targets
    assert "## Provenance" in md and "### Retrieval with the target as query" in md
    assert len(first_table_md(md)) == 6  # the first screen is untouched


OLD = {  # the pre-redesign schema: one target entry holding the experts' measurements
    "targets": {
        "eng_Latn": {
            "experts": {"k": 4, "score": "auroc", "mean_score": 0.9, "by_layer": {"0": 4}},
            "intervention": {"value": "mean", "mode": "set"},
            "retrieval": {
                "pre": {"eng_Latn": {"deu_Latn": 0.5}, "deu_Latn": {"eng_Latn": 0.25}},
                "post": {"eng_Latn": {"deu_Latn": 0.75}, "deu_Latn": {"eng_Latn": 0.5}},
                "delta": {"eng_Latn": {"deu_Latn": 0.25}, "deu_Latn": {"eng_Latn": 0.25}},
                "mean_pre": 0.375,
                "mean_post": 0.625,
                "layer": -1,
            },
            "geometry": {"geometry.pre.medoid": "deu_Latn", "geometry.post.medoid": "eng_Latn"},
            "random_control": {"retrieval": {"post": {"eng_Latn": {"deu_Latn": 0.5}}}},
            "correlation": {"note": "need at least 3 languages"},
            "controls": {"table": {}},
        }
    },
    "languages": {"evaluation": ["eng_Latn", "deu_Latn"]},
    "sweep": {"eng_Latn": {"k": [0, 4]}},
}


def test_old_and_odd_results_do_not_crash(tmp_path, no_figures):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_report(copy.deepcopy(OLD), tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "has no leaderboard" in md and "could not be" not in md
    assert "| German (deu_Latn) | 50.0% | 75.0% (+25.0 pp) | 50.0% (+0.0 pp) |" in md
    assert "| Medoid | German (deu_Latn) | English (eng_Latn) | moved |" in md
    assert "need at least 3 languages" in md
    assert "not shown here: sweep" in md
    assert "no leaderboard" in study_summary_table(OLD)
    write_report({}, tmp_path)
    assert "nothing to report" in (tmp_path / "report.md").read_text(encoding="utf-8")
    odd = {"leaderboard": [{"method": "x"}, 3], "targets": {"eng_Latn": {"methods": {"m": 3}}}}
    write_report(odd, tmp_path)  # malformed values cost notes, never the report
    assert study_summary_table(odd)


def test_nan_in_memory_reads_as_missing(results, no_figures):
    """run_study returns NaN where results.json has null: both give the same report."""
    bad = copy.deepcopy(results)
    rec = bad["targets"]["eng_Latn"]["methods"]["experts"]
    rec["correlation"]["correlation.acc_post~d_post.r"] = float("nan")
    from_memory = render_markdown(build_blocks(bad))
    from_file = render_markdown(build_blocks(json.loads(json.dumps(strict_json(bad)))))
    assert from_memory == from_file
    assert "| experts | all four | n/a | n/a | n/a | 2 |" in from_memory


def test_console_summary(res):
    text = study_summary_table(res)
    lines = text.splitlines()
    labels = ["none", "per-language-centring", "whitening", "experts", "random-units"]
    for label in [*labels, "steering-vector"]:
        assert sum(line.startswith(label) for line in lines) == 1  # one line per method
    assert lines[0].split() == ["method", "eng_Latn", "deu_Latn"]
    assert BEST in text and "none (baseline)" in text
    assert "subsampled: corpus sentences, 38 of 40" in text
    res["subsampling"] = []
    assert "subsampled: nothing" in study_summary_table(res)


def test_without_matplotlib(res, tmp_path, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)
    assert not F.available()
    written = write_report(res, tmp_path)
    assert "figures" not in written and not (tmp_path / "figures").exists()
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "matplotlib is not installed" in first_screen_html(page) and "data:image" not in page


def test_html_and_markdown_escape_text(res, tmp_path, no_figures):
    evil = "<script>alert(1)</script>"
    res["model"]["id"] = evil
    res["leaderboard"][0]["method"] = evil
    res["languages"]["evaluation"].append(evil)
    write_report(res, tmp_path)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    outside_code = re.sub(r"```.*?```", "", md, flags=re.S)  # code blocks are inert in Markdown
    assert "<script" not in outside_code and "&lt;script&gt;" in outside_code


def test_writes_are_atomic(res, tmp_path, monkeypatch, no_figures):
    write_report(res, tmp_path)
    before = (tmp_path / "report.html").read_bytes()

    # a lone surrogate cannot be encoded: the write fails half-way through the file
    monkeypatch.setattr(build, "render_html", lambda blocks, title: "<html>" * 1000 + "\ud800")
    with pytest.raises(UnicodeEncodeError):
        write_report(res, tmp_path)
    assert (tmp_path / "report.html").read_bytes() == before  # the old report survives whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "report.md"]


def test_each_ranking_score_is_explained_on_its_own_scale(res, tmp_path, no_figures):
    """An AUROC reads "0.5 = chance"; a LAPE score (minus an entropy) must not."""
    res["targets"]["deu_Latn"]["methods"]["experts"]["experts"]["score"] = "lape"
    write_report(res, tmp_path)
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    where = md.split("## Where the experts are", 1)[1].split("\n## ", 1)[0]
    eng, deu = where.split("### German (deu_Latn)", 1)
    assert "auroc: mean" in eng and "0.5 = chance, 1 = tells English apart perfectly" in eng
    assert "lape: mean" in deu and "0 = fires for one language only" in deu
    assert "0.5 = chance" not in deu
