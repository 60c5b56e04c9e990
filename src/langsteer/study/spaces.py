"""The sentences a study embeds, and one pass that turns a model state into a :class:`Space`.

Every model state (the original model, or one model method for one target) embeds the same
sentences in ONE cached pass: the evaluated split, the held-out split and both sides of the
paraphrase pairs, at every layer. A paraphrase side that is also an evaluated sentence (the same
translation) is forwarded once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from langsteer.config import StudyConfig
from langsteer.corpora import Corpus, ParaphrasePairs
from langsteer.encoding.embeddings import encode
from langsteer.evaluation.comparison import Space
from langsteer.methods.probe import probing_set
from langsteer.models import LoadedModel

__all__ = ["StudySentences", "encode_space"]


def _by_language(values: np.ndarray, lang_of: np.ndarray, languages: list[str]) -> dict:
    return {lang: np.asarray(values[lang_of == j]) for j, lang in enumerate(languages)}


@dataclass
class StudySentences:
    """The evaluated and held-out sentences of every evaluation language, and paraphrases."""

    languages: list[str]
    evaluated: list[str]
    eval_lang_of: np.ndarray
    heldout: list[str]
    heldout_lang_of: np.ndarray
    pairs: ParaphrasePairs | None

    @classmethod
    def from_corpora(
        cls, corpora: dict[str, Corpus], languages: list[str], pairs: ParaphrasePairs | None
    ) -> StudySentences:
        ev, ev_of = probing_set(corpora["eval"], languages)
        ho, ho_of = ([], np.empty(0, dtype=int))
        if "center" in corpora:
            ho, ho_of = probing_set(corpora["center"], languages)
        return cls(languages, ev, ev_of, ho, ho_of, pairs)

    def all(self) -> list[str]:
        para = [*self.pairs.left, *self.pairs.right] if self.pairs is not None else []
        return [*self.evaluated, *self.heldout, *para]


def encode_space(
    loaded: LoadedModel,
    sentences: StudySentences,
    config: StudyConfig,
    *,
    name: str,
    cache_dir: Any = None,
    handle: Any = None,
    target: str | None = None,
    method: str | None = None,
    heldout_only: bool = False,
) -> Space:
    """One pass (cached) under ``handle`` (None: the original model) -> a :class:`Space`.

    ``heldout_only`` embeds just the held-out split (to choose a method's parameters on it):
    the space's ``evaluated`` is then the held-out split and ``heldout`` is None.
    """
    e, r = config.evaluation, config.run
    texts = sentences.heldout if heldout_only else sentences.all()
    values = encode(
        loaded,
        texts,
        pooling=e.pooling,
        skip_bos=e.skip_bos,
        intervention=handle,
        batch_size=r.batch_size,
        max_length=r.max_length,
        cache_dir=cache_dir,
        progress=r.progress,
    ).values
    langs = sentences.languages
    if heldout_only:
        return Space(
            name,
            _by_language(values, sentences.heldout_lang_of, langs),
            target=target,
            method=method,
        )
    n_ev, n_ho = len(sentences.evaluated), len(sentences.heldout)
    space = Space(
        name,
        _by_language(values[:n_ev], sentences.eval_lang_of, langs),
        target=target,
        method=method,
    )
    if n_ho:
        space.heldout = _by_language(values[n_ev : n_ev + n_ho], sentences.heldout_lang_of, langs)
    if sentences.pairs is not None:
        n, start = len(sentences.pairs), n_ev + n_ho
        space.paraphrase = (np.asarray(values[start : start + n]), np.asarray(values[start + n :]))
    return space
