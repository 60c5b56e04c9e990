"""MTEB's own bitext-mining evaluation on local parallel data, with langsteer's encoder.

MTEB loads a task's data from the hub, which many users (and this project's machines) cannot
reach. MTEB's supported way to evaluate local data is a subclass of its task class whose
``load_data`` builds the dataset itself (how MTEB's own mock tasks work): :func:`bitext_task`
makes such an ``AbsTaskBitextMining`` from a langsteer :class:`~langsteer.corpora.Corpus`, with
``parallel_subsets`` (one column per language and every ordered pair one subset, so each
language is encoded once), and :func:`run_mteb` hands it with
:class:`~langsteer.encoding.embeddings.LangsteerEncoder` s to ``mteb.evaluate``, which writes
MTEB's result files. Nothing is re-implemented: the nearest neighbours, accuracy, F1, precision
and recall are MTEB's. How its accuracy relates to :func:`langsteer.metrics.retrieval_top1`:
docs/design.md, "MTEB and sentence-transformers".
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langsteer.config import EvaluationConfig, RunConfig

__all__ = [
    "INSTALL_HINT",
    "SPLIT",
    "TASK_NAME",
    "bitext_task",
    "experiment",
    "model_meta",
    "require_mteb",
    "run_mteb",
]

INSTALL_HINT = 'pip install -e ".[mteb]"'
TASK_NAME = "LangsteerBitextMining"
SPLIT = "test"
METRICS = ("accuracy", "f1", "precision", "recall")


def require_mteb() -> Any:
    """The ``mteb`` module, or an ImportError that says how to install it."""
    try:
        import mteb
    except ImportError as exc:
        raise ImportError(
            f"MTEB is not installed ({exc}): install langsteer's extra, {INSTALL_HINT}"
        ) from None
    return mteb


def bitext_task(
    corpus: Any,
    languages: Sequence[str] | None = None,
    *,
    name: str = TASK_NAME,
    source: str | None = None,
) -> Any:
    """An MTEB bitext-mining task over ``languages`` of ``corpus`` (default: all of them).

    Subset ``"a-b"`` (FLORES codes) retrieves b's sentences for a's queries, gold = same row.
    The dataset revision is the corpus's content hash, so MTEB files the data it was given.
    """
    require_mteb()
    from datasets import Dataset, DatasetDict
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.abstasks.text.bitext_mining import AbsTaskBitextMining

    from langsteer.languages import normalize_language

    langs = list(dict.fromkeys(normalize_language(x) for x in (languages or corpus.languages)))
    if len(langs) < 2:
        raise ValueError(f"bitext mining needs two languages or more (--languages), got {langs}")
    columns = {lang: corpus.sentences(lang) for lang in langs}
    tags = {lang: lang.replace("_", "-") for lang in langs}
    try:
        metadata = TaskMetadata(
            name=name,
            description="Bitext mining on local parallel data, built by langsteer from a "
            f"Corpus ({len(corpus)} sentences per language).",
            type="BitextMining",
            category="t2t",
            modalities=["text"],
            dataset={"path": source or "local", "revision": corpus.content_hash()[:16]},
            eval_splits=[SPLIT],
            eval_langs={f"{a}-{b}": [tags[a], tags[b]] for a in langs for b in langs if a != b},
            main_score="accuracy",
        )
        metadata._validate_metadata()
    except ValueError as exc:
        raise ValueError(f"MTEB refuses the languages {langs} (--languages): {exc}") from None

    def load_data(self: Any, num_proc: int | None = None, **kwargs: Any) -> None:
        if not self.data_loaded:
            self.dataset = DatasetDict({SPLIT: Dataset.from_dict(columns)})
            self.data_loaded = True

    attrs = {
        "__module__": __name__,
        "__doc__": "Bitext mining on a langsteer corpus (every ordered language pair).",
        "parallel_subsets": True,
        "metadata": metadata,
        "load_data": load_data,
    }
    return type(name, (AbsTaskBitextMining,), attrs)()


def _revision(described: dict[str, Any]) -> str:
    """The hub commit when there is one, else a short hash of the weights."""
    if described.get("commit"):
        return str(described["commit"])
    return str(described["content_hash"]).split(":")[-1][:12]


def _model_name(model_id: str) -> str:
    """A hub id as it is; a local folder by its name (its weights hash is the revision); MTEB
    makes a folder of it, so anything but letters, digits and ``._/-`` becomes one dash."""
    path = Path(model_id)
    if path.is_absolute() or model_id.startswith(".") or path.exists():
        model_id = f"local/{path.resolve().name}"
    return re.sub(r"[^\w./-]+", "-", model_id).strip("-")


def experiment(encoder: Any) -> dict[str, Any]:
    """What MTEB files a model state under (``experiment_kwargs``): the method, the layer, the
    pooling, and for an intervention its target and a hash of everything that defines it."""
    opts = encoder.options
    out: dict[str, Any] = {
        "method": encoder.label,
        "layer": encoder.layer,
        "pooling": opts.get("pooling", EvaluationConfig.pooling),
        "skip_bos": opts.get("skip_bos", EvaluationConfig.skip_bos),
    }
    iv = encoder.intervention
    if iv is not None:
        described = dict(iv.describe())
        if described.get("target"):
            out["target"] = described["target"]
        text = json.dumps(described, sort_keys=True, default=str)
        out["fit"] = hashlib.sha256(text.encode()).hexdigest()[:10]
    return out


def model_meta(encoder: Any) -> Any:
    """MTEB's ``ModelMeta`` of a :class:`LangsteerEncoder` (its ``mteb_model_meta``)."""
    require_mteb()
    from mteb.models.model_meta import ModelMeta, ScoringFunction

    described = encoder.loaded.describe()
    return ModelMeta.create_empty(
        {
            "name": _model_name(described["id"]),
            "revision": _revision(described),
            "n_parameters": described["n_parameters"],
            "embed_dim": described["signature"]["hidden_size"],
            "max_tokens": encoder.options.get("max_length", RunConfig.max_length),
            "similarity_fn_name": ScoringFunction.COSINE,
            "framework": ["PyTorch"],
            "modalities": ["text"],
            "experiment_kwargs": experiment(encoder),
        }
    )


def run_mteb(
    encoders: Sequence[Any],
    task: Any,
    out: str | Path,
    *,
    batch_size: int | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """``mteb.evaluate`` of each encoder on ``task``; MTEB writes ``out/results/...`` (its
    result cache layout: model / revision / experiments / <experiment> / <task>.json) and its
    nearest neighbours to ``out/predictions/<experiment>/``. Returns one record per encoder:
    the experiment, both files (relative to ``out``) and MTEB's scores per subset."""
    mteb = require_mteb()
    out = Path(out)
    cache = mteb.ResultCache(cache_path=out)
    runs = []
    for enc in encoders:
        meta = enc.mteb_model_meta
        name = meta.experiment_name or "default"
        predictions = out / "predictions" / name
        predictions.mkdir(parents=True, exist_ok=True)
        size = batch_size or enc.options.get("batch_size", RunConfig.batch_size)
        with warnings.catch_warnings():
            # MTEB's own torch.tensor(similarity) of the tensor that `similarity` returns
            warnings.filterwarnings("ignore", message="To copy construct from a tensor")
            result = mteb.evaluate(
                enc,
                task,
                cache=cache,
                prediction_folder=predictions,
                overwrite_strategy="always",
                show_progress_bar=progress,
                encode_kwargs={"batch_size": size, "show_progress_bar": progress},
            )
        (task_result,) = result.task_results
        scores = {
            s["hf_subset"]: {k: float(s[k]) for k in METRICS} for s in task_result.scores[SPLIT]
        }
        result_file = cache.get_task_result_path(task.metadata.name, meta)
        runs.append(
            {
                "experiment": name,
                "experiment_kwargs": dict(meta.experiment_kwargs or {}),
                "encoder": {k: v for k, v in enc.describe().items() if k != "model"},
                "result_file": str(result_file.relative_to(out)),
                "predictions_file": str(
                    (predictions / f"{task.metadata.name}_predictions.json").relative_to(out)
                ),
                "scores": scores,
            }
        )
    return runs
