"""A whole study: experts -> interventions -> embeddings -> every measurement -> results + report.

Expensive work is done once and cached: the probing responses (one pass over every probed
sentence, shared by all targets), the un-intervened embeddings (shared by every target and
control) and each intervened pass. Re-running a study reuses the cache, so an interrupted run
resumes where it stopped.
"""

from __future__ import annotations

import contextlib
import platform
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from langsteer import __version__
from langsteer.config import StudyConfig
from langsteer.corpora import (
    Corpus,
    ParaphrasePairs,
    bible_paraphrases,
    load_corpus,
    load_pawsx,
    split,
)
from langsteer.distributed import distributed_state, encode_distributed
from langsteer.embedded import EMBEDDED_ALIASES, cache_root, load_embedded
from langsteer.evaluation import (
    GeometryEvaluator,
    ParaphraseEvaluator,
    paper_correlations,
    parallel_distances,
    select_layer,
)
from langsteer.evaluation.controls import (
    best_layer,
    check_disjoint,
    control_table,
    heldout_means,
    heldout_whitening,
    per_layer_controls,
    pick_controls,
    sentence_scores,
    verdict,
)
from langsteer.evaluation.evaluators import BitextRetrievalEvaluator
from langsteer.experts import ExpertSet, versions
from langsteer.finding import find_experts, probing_set
from langsteer.interventions import intervene
from langsteer.io import atomic_write_json, strict_json
from langsteer.languages import normalize_language
from langsteer.models import LoadedModel, load_model
from langsteer.steering import SteeringVector, resolve_steering_layer
from langsteer.sweep import steering_sweep


class Timer:
    """Wall-clock seconds per named stage, for results.json."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, stage: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


def open_model(config: StudyConfig) -> LoadedModel:
    """Load the study's model; under ``accelerate launch`` each process takes its own device."""
    m = config.model
    device = m.device
    state = distributed_state()
    if state is not None:
        if m.device_map:
            raise ValueError(
                "model.device_map splits one model over GPUs: not with several processes"
            )
        if device == "auto":
            device = str(state.device)
    if m.id in EMBEDDED_ALIASES:
        with state.main_process_first() if state else contextlib.nullcontext():
            return load_embedded(device=device, dtype=m.dtype, root=config.run.cache_dir)
    return load_model(
        m.id,
        gguf_file=m.gguf_file,
        revision=m.revision,
        device=device,
        dtype=m.dtype,
        device_map=m.device_map,
        allow_non_causal=m.allow_non_causal,
        memo_dir=config.run.cache_dir,
    )


def _unique(items) -> list[str]:
    return list(dict.fromkeys(items))


def study_languages(config: StudyConfig) -> dict[str, list[str]]:
    targets = _unique(normalize_language(x) for x in config.experts.targets)
    negatives = _unique(normalize_language(x) for x in config.experts.negatives)
    evaluation = _unique(normalize_language(x) for x in config.evaluation.languages)
    missing = [t for t in targets if t not in evaluation]
    if missing:
        raise ValueError(f"targets {missing} must also be evaluation languages")
    probed = _unique([*targets, *negatives])
    return {"targets": targets, "negatives": negatives, "evaluation": evaluation, "probed": probed}


def load_study_corpora(config: StudyConfig, langs: dict[str, list[str]]) -> dict[str, Corpus]:
    """Disjoint, seeded expert and evaluation splits (or two sources, e.g. FLORES dev/devtest)."""
    c = config.corpus
    kw = {"translations": c.translations} if c.source == "bible" and c.translations else {}
    if c.duplicates is not None:
        kw["duplicates"] = c.duplicates
    opts = {"language_check": c.language_check, "drop_empty": c.drop_empty}
    opts["allow_copyrighted"] = c.allow_copyrighted
    kw.update(opts)
    everything = _unique([*langs["probed"], *langs["evaluation"]])
    if c.expert_source is None:
        corpus = load_corpus(c.source, split=c.split, languages=everything, **kw)
        if c.n_expert + c.n_center + c.n_eval > len(corpus):
            raise ValueError(
                f"corpus.n_expert ({c.n_expert}) + n_center ({c.n_center}) + n_eval "
                f"({c.n_eval}) exceed the {len(corpus)} aligned sentences of {c.source!r}"
            )
        sizes = {"experts": c.n_expert, "center": c.n_center, "eval": c.n_eval}
        parts = split(corpus, {k: v for k, v in sizes.items() if v}, seed=c.seed)
        out = {"eval": parts["eval"].subset(languages=langs["evaluation"])}
        if c.n_expert:
            out["experts"] = parts["experts"].subset(languages=langs["probed"])
        if c.n_center:
            out["center"] = parts["center"].subset(languages=langs["evaluation"])
        return out
    dup = {"duplicates": c.duplicates} if c.duplicates is not None else {}
    probe = load_corpus(
        c.expert_source, split=c.expert_split, languages=langs["probed"], **dup, **opts
    )
    evals = load_corpus(c.source, split=c.split, languages=langs["evaluation"], **kw)
    out = {"experts": split(probe, {"experts": min(c.n_expert, len(probe))}, seed=c.seed)}
    out["experts"] = out["experts"]["experts"]
    n_center = min(c.n_center, max(len(evals) - c.n_eval, 0))
    sizes = {"center": n_center, "eval": min(c.n_eval, len(evals) - n_center)}
    parts = split(evals, {k: v for k, v in sizes.items() if v}, seed=c.seed)
    out.update(parts)
    return out


def paraphrase_pairs(config: StudyConfig, eval_ids: list[str]) -> ParaphrasePairs | None:
    """PAWS-X pairs (a seeded subset of ``n_eval``), or two Bible translations of one language
    on the evaluation verses only (so no expert verse is ever evaluated)."""
    e = config.evaluation
    if not config.analyses.paraphrase:
        return None
    if e.paraphrase_source is not None:
        pairs = load_pawsx(
            e.paraphrase_source, e.paraphrase_language, drop_empty=config.corpus.drop_empty
        )
        n = min(config.corpus.n_eval, len(pairs))
        rows = np.random.default_rng(config.corpus.seed).choice(len(pairs), n, replace=False)
        return pairs.subset(np.sort(rows))
    if config.corpus.source != "bible" or len(e.paraphrase) != 2:
        return None
    public_only = not config.corpus.allow_copyrighted
    pairs = bible_paraphrases(
        e.paraphrase_language, translations=e.paraphrase, public_domain_only=public_only
    )
    wanted = set(eval_ids)
    keep = [i for i, x in enumerate(pairs.ids) if x in wanted]
    return pairs.subset(keep)


def by_language(values: np.ndarray, lang_of: np.ndarray, languages: list[str]) -> dict:
    return {lang: np.asarray(values[lang_of == j]) for j, lang in enumerate(languages)}


def pca_2d(space: dict[str, np.ndarray], n_per_language: int = 60, seed: int = 0) -> dict:
    """2-D PCA coordinates of one space (its own axes), a few sentences per language."""
    rng = np.random.default_rng(seed)
    n = next(iter(space.values())).shape[0]
    rows = np.sort(rng.choice(n, size=min(n, n_per_language), replace=False))
    x = np.concatenate([space[lang][rows] for lang in space]).astype(np.float64)
    x -= x.mean(0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    coords = x @ vt[:2].T
    explained = (s[:2] ** 2 / max((s**2).sum(), 1e-30)).tolist()
    out, m = {}, len(rows)
    for j, lang in enumerate(space):
        out[lang] = np.round(coords[j * m : (j + 1) * m], 5).tolist()
    return {"method": "pca", "explained_variance": explained, "points": out}


def nested(table: dict[tuple[str, str], float]) -> dict[str, dict[str, float]]:
    """``{(q, c): v}`` -> ``{q: {c: v}}`` (query -> candidate accuracy maps)."""
    out: dict[str, dict[str, float]] = {}
    for (q, c), v in table.items():
        out.setdefault(q, {})[c] = float(v)
    return out


class Study:
    """Runs one configured study; ``run()`` returns the results dict it also writes."""

    def __init__(
        self,
        config: StudyConfig,
        out_dir: str | Path,
        *,
        expert_files: list[str | Path] | None = None,
        allow_other_model: bool = False,
    ) -> None:
        self.config = config
        self.out = Path(out_dir)
        self.timer = Timer()
        self.cache = cache_root(config.run.cache_dir)
        self.expert_files = expert_files
        self.allow_other_model = allow_other_model
        self.steering_vectors: dict[str, SteeringVector] = {}
        self._steered: tuple[str, dict] | None = None  # (baseline name, space) of the target

    def _encode(self, sentences: list[str], intervention=None) -> np.ndarray:
        e, r = self.config.evaluation, self.config.run
        return encode_distributed(
            self.loaded,
            sentences,
            pooling=e.pooling,
            skip_bos=e.skip_bos,
            intervention=intervention,
            batch_size=r.batch_size,
            max_length=r.max_length,
            cache_dir=self.cache,
            progress=r.progress,
        ).values

    def _space(self, intervention=None, paraphrase: bool = True) -> dict[str, Any]:
        """Per-language (n, layers, d) embeddings of the evaluation set (+ paraphrase sides).

        One encode call for both, so a paraphrase side that is also an evaluation sentence (the
        same translation) is forwarded once.
        """
        with_para = paraphrase and self.pairs is not None
        para = [*self.pairs.left, *self.pairs.right] if with_para else []
        values = self._encode([*self.eval_sentences, *self.center_sentences, *para], intervention)
        n_eval, n_center = len(self.eval_sentences), len(self.center_sentences)
        evaluation = self.langs["evaluation"]
        space = {"langs": by_language(values[:n_eval], self.eval_lang_of, evaluation)}
        if n_center:
            center = values[n_eval : n_eval + n_center]
            space["center"] = by_language(center, self.center_lang_of, evaluation)
        n_eval += n_center
        if para:
            n = len(self.pairs)
            space["para"] = (
                np.asarray(values[n_eval : n_eval + n]),
                np.asarray(values[n_eval + n :]),
            )
        return space

    def _evaluator(self, centering: str = "none") -> BitextRetrievalEvaluator:
        e = self.config.evaluation
        return BitextRetrievalEvaluator(
            self.langs["evaluation"], direction=e.direction, scoring=e.scoring, centering=centering
        )

    def _retrieval(self, space: dict) -> dict[tuple[str, str], float]:
        layer = self.config.evaluation.layer
        return self._evaluator().accuracies(select_layer(space["langs"], layer))

    def _per_layer_mean(self, space: dict) -> list[float]:
        ev = self._evaluator()
        n_layers = next(iter(space["langs"].values())).shape[1]
        return [
            float(np.mean(list(ev.accuracies(select_layer(space["langs"], layer)).values())))
            for layer in range(n_layers)
        ]

    def _compare(self, target: str, pre: dict, post: dict) -> dict[str, Any]:
        """Every measurement of one intervened space against the original one."""
        e, a = self.config.evaluation, self.config.analyses
        out: dict[str, Any] = {}
        acc_pre, acc_post = self._retrieval(pre), self._retrieval(post)
        out["retrieval"] = {
            "pre": nested(acc_pre),
            "post": nested(acc_post),
            "delta": nested({p: acc_post[p] - acc_pre[p] for p in acc_pre}),
            "mean_pre": float(np.mean(list(acc_pre.values()))),
            "mean_post": float(np.mean(list(acc_post.values()))),
            "per_layer_mean_post": self._per_layer_mean(post),
            "layer": e.layer,
            "layer_numbering": "hidden-state index (0 = token embeddings, -1 = last)",
            "variant": self._evaluator().variant,
        }
        pre_l, post_l = select_layer(pre["langs"], e.layer), select_layer(post["langs"], e.layer)
        if a.geometry:
            out["geometry"] = GeometryEvaluator(target).evaluate(pre_l, post_l)
        if a.paraphrase and "para" in pre:
            ev = ParaphraseEvaluator(direction=e.direction, scoring=e.scoring)
            q0, c0 = (x[:, e.layer] for x in pre["para"])
            q1, c1 = (x[:, e.layer] for x in post["para"])
            out["paraphrase"] = ev.evaluate((q0, c0), (q1, c1))
        if a.correlation:
            out["correlation"] = self._correlation(target, acc_pre, acc_post, pre_l, post_l)
        if a.projection:
            seed = self.config.run.seed
            out["projection"] = {"pre": pca_2d(pre_l, seed=seed), "post": pca_2d(post_l, seed=seed)}
        return out

    def _correlation(self, target, acc_pre, acc_post, pre_l, post_l) -> dict[str, Any]:
        """Table 2 with the target as query, one point per candidate language."""
        e = self.config.evaluation
        cands = [x for x in (e.correlation_languages or self.langs["evaluation"]) if x != target]
        cands = [normalize_language(x) for x in cands]
        d_pre, d_post = parallel_distances(pre_l), parallel_distances(post_l)

        def dist(table, c):
            return table.get((target, c), table.get((c, target)))

        try:
            return paper_correlations(
                {c: acc_pre[(target, c)] for c in cands},
                {c: acc_post[(target, c)] for c in cands},
                {c: dist(d_pre, c) for c in cands},
                {c: dist(d_post, c) for c in cands},
                n_boot=e.n_boot,
                seed=self.config.run.seed,
            )
        except ValueError as exc:  # too few languages for a correlation
            return {"note": str(exc)}

    def run(self) -> dict[str, Any]:
        cfg, t = self.config, self.timer
        self.out.mkdir(parents=True, exist_ok=True)
        with t("load_model"):
            self.loaded = open_model(cfg)
        n_hidden = self.loaded.signature()["num_hidden_layers"] + 1
        if not -n_hidden <= cfg.evaluation.layer < n_hidden:
            raise ValueError(
                f"evaluation.layer = {cfg.evaluation.layer}: this model has hidden states "
                f"0..{n_hidden - 1} (negative indices count from the last)"
            )
        if cfg.steering.enabled:  # a bad layer fails before any expensive stage
            n_layers = self.loaded.signature()["num_hidden_layers"]
            self.steering_layer = resolve_steering_layer(cfg.steering.layer, n_layers)
        with t("load_corpora"):
            self.langs = study_languages(cfg)
            corpora = load_study_corpora(cfg, self.langs)
            self.expert_corpus = corpora.get("experts")
            if cfg.steering.enabled and self.expert_corpus is None:
                raise ValueError(
                    "steering.enabled fits the vector on the expert split: set corpus.n_expert "
                    "> 0 (or corpus.expert_source) even when expert files are given"
                )
            self.eval_sentences, self.eval_lang_of = probing_set(
                corpora["eval"], self.langs["evaluation"]
            )
            self.pairs = paraphrase_pairs(cfg, corpora["eval"].ids)
            self.center_sentences, self.center_lang_of = [], np.empty(0, dtype=int)
            if "center" in corpora:
                check_disjoint(corpora["eval"].ids, corpora["center"].ids)
                self.center_sentences, self.center_lang_of = probing_set(
                    corpora["center"], self.langs["evaluation"]
                )
        with t("experts"):
            if self.expert_files is None:
                experts, responses = self._find(corpora["experts"])
                files = self._save_experts(experts)
            else:
                experts, responses = self._load_experts(), None
                files = {lang: str(ex.meta.get("path")) for lang, ex in experts.items()}
        with t("embeddings_pre"):
            pre = self.pre_space = self._space()
            self.per_layer_pre = self._per_layer_mean(pre)
        results: dict[str, Any] = {"targets": {}}
        for target, ex in experts.items():
            results["targets"][target] = self._target(target, ex, pre, files[target])
        results["baseline"] = {
            "retrieval_pre": nested(self._retrieval(pre)),
            "retrieval_per_layer_mean_pre": self.per_layer_pre,
        }
        if cfg.sweep.enabled:
            with t("sweep"):
                results.update(self._sweep(experts, corpora["eval"]))
        results.update(self._provenance(corpora, responses))
        if cfg.steering.enabled:
            results["config"]["steering"]["layer"] = self.steering_layer  # resolved
        results["timings"] = dict(t.seconds)
        results = strict_json(results)
        if self.is_main:
            atomic_write_json(self.out / "results.json", results, allow_nan=False)
        return results

    @property
    def is_main(self) -> bool:
        """Only one process writes results under ``accelerate launch``."""
        state = distributed_state()
        return state is None or state.is_main_process

    def _sweep(self, experts: dict[str, ExpertSet], eval_corpus: Corpus) -> dict[str, Any]:
        """The k trade-off (paper Fig. 3): target rate and perplexity, optionally retrieval."""
        sw, iv = self.config.sweep, self.config.intervention
        ppl_texts = {t: eval_corpus.sentences(t)[: sw.n_ppl] for t in experts}
        out = steering_sweep(
            self.loaded,
            experts,
            sw.ks,
            ppl_texts=ppl_texts,
            n_samples=sw.n_samples,
            seeds=sw.seeds,
            max_new_tokens=sw.max_new_tokens,
            temperature=sw.temperature,
            top_p=sw.top_p,
            value=iv.value,
            mode=iv.mode,
            scale=iv.scale,
            batch_size=sw.batch_size,
            ppl_stride=sw.ppl_stride,
            langid_languages=sw.langid_languages or None,
            n_keep=sw.n_keep,
            progress=self.config.run.progress,
            steering_vectors=self.steering_vectors or None,
        )
        generation = {
            t: {str(k): {"samples": texts} for k, texts in res.pop("samples").items()}
            for t, res in out["targets"].items()
        }
        for t, res in out["targets"].items():
            if "steering_vector" in res:
                vec = res["steering_vector"]
                generation[t]["steering_vector"] = {
                    "target_rate": vec["target_rate"],
                    "samples": vec.pop("samples"),
                }
        if sw.retrieval:
            for t, res in out["targets"].items():
                res.update(self._retrieval_by_k(experts[t], sw.ks))
        return {
            "sweep": out["targets"],
            "sweep_options": {**out["options"], "identifier": out["identifier"]},
            "generation": generation,
        }

    def _retrieval_by_k(self, ex: ExpertSet, ks: list[int]) -> dict[str, list[float]]:
        """Mean top-1 (raw and per-language centred) of the evaluation set for each k."""
        iv = self.config.intervention
        opts = {"value": iv.value, "scale": iv.scale, "mode": iv.mode, "positions": iv.positions}
        raw, centred = [], []
        for k in ks:
            if k == 0:
                space = self.pre_space
            else:
                with intervene(self.loaded, ex.with_k(k), **opts) as h:
                    space = self._space(h, paraphrase=k == ex.k)  # the main k: cached already
            raw.append(self._mean_top1(space, "none"))
            centred.append(self._mean_top1(space, "per-language"))
        return {
            "retrieval_mean": raw,
            "retrieval_gain": [x - raw[ks.index(0)] if 0 in ks else None for x in raw],
            "retrieval_mean_centred": centred,
            "retrieval_centring": "per-language, held-out means"
            if "center" in self.pre_space
            else "per-language, evaluated means (optimistic)",
        }

    def _mean_top1(self, space: dict, centering: str) -> float:
        """Mean top-1 at the headline layer; per-language centring uses held-out means if any."""
        layer = self.config.evaluation.layer
        ev = self._evaluator(centering)
        if centering == "per-language" and "center" in space:
            ev.means = heldout_means(select_layer(space["center"], layer))
        accuracies = ev.accuracies(select_layer(space["langs"], layer))
        return float(np.mean(list(accuracies.values())))

    def _find(self, corpus: Corpus):
        x, r = self.config.experts, self.config.run
        return find_experts(
            self.loaded,
            corpus,
            self.langs["targets"],
            negatives=self.langs["negatives"],
            units=x.units,
            pooling=x.pooling,
            score=x.score,
            k=x.k,
            bottom_k=x.bottom_k,
            skip_bos=x.skip_bos,
            batch_size=r.batch_size,
            max_length=r.max_length,
            cache_dir=self.cache,
            progress=r.progress,
        )

    def _load_experts(self) -> dict[str, ExpertSet]:
        """Expert files given by the user: checked against the model, targets from the files."""
        experts = {}
        for path in self.expert_files:
            ex = ExpertSet.load(path)
            ex.check_compatible(self.loaded, allow_other_model=self.allow_other_model)
            if ex.target not in self.langs["evaluation"]:
                raise ValueError(
                    f"expert file {path} targets {ex.target}, which is not among the evaluation "
                    f"languages {self.langs['evaluation']}; add it to --languages"
                )
            if ex.target in experts:
                raise ValueError(
                    f"expert files {experts[ex.target].meta['path']} and {path} both target "
                    f"{ex.target}: give one expert file per target language"
                )
            ex.meta["path"] = str(path)
            experts[ex.target] = ex
        return experts

    def _save_experts(self, experts: dict[str, ExpertSet]) -> dict[str, str]:
        folder = self.out / "experts"
        folder.mkdir(exist_ok=True)
        paths = {lang: folder / f"{lang}.safetensors" for lang in experts}
        if self.is_main:
            for lang, ex in experts.items():
                ex.save(paths[lang])
        return {lang: str(path) for lang, path in paths.items()}

    def _target(self, target: str, ex: ExpertSet, pre: dict, file: str) -> dict[str, Any]:
        cfg, t = self.config, self.timer
        iv = cfg.intervention
        opts = {"value": iv.value, "scale": iv.scale, "mode": iv.mode, "positions": iv.positions}
        with t("embeddings_post"), intervene(self.loaded, ex, **opts) as h:
            post = self._space(h)
            described = h.describe()
        with t("metrics"):
            res = self._compare(target, pre, post)
        res["experts"] = {**ex.summary(), "file": file}
        res["intervention"] = described
        rnd = None
        if cfg.analyses.random_control:
            with (
                t("embeddings_random"),
                intervene(self.loaded, ex, control="random", seed=iv.random_seed, **opts) as h,
            ):
                rnd = self._space(h)
                described_random = h.describe()
            with t("metrics"):
                res["random_control"] = self._compare(target, pre, rnd)
                res["random_control"]["intervention"] = described_random
        self._steered = None
        if cfg.steering.enabled:
            res["steering_vector"] = self._steering(target, pre)
        with t("controls"):
            res["controls"] = self._controls(ex, pre, post, rnd)
        return res

    def _steering(self, target: str, pre: dict) -> dict[str, Any]:
        """The steering-vector baseline: fit on the expert split, measure like the experts."""
        st, r, t = self.config.steering, self.config.run, self.timer
        sentences = {lang: self.expert_corpus.sentences(lang) for lang in self.langs["probed"]}
        with t("embeddings_steering"):
            sv = SteeringVector(
                layer=self.steering_layer,
                strength=st.strength,
                pooling="mean",
                skip_bos=self.config.experts.skip_bos,
            ).fit(
                self.loaded,
                sentences,
                target,
                batch_size=r.batch_size,
                max_length=r.max_length,
                cache_dir=self.cache,
                progress=r.progress,
            )
            with sv.apply(self.loaded) as h:
                space = self._space(h)
                described = h.describe()
        self.steering_vectors[target] = sv
        name = f"steering vector (layer {sv.layer_}, strength {st.strength:g}), raw"
        self._steered = (name, space)
        with t("metrics"):
            out = self._compare(target, pre, space)
        out["vector"] = described
        return out

    def _controls(self, ex: ExpertSet, pre: dict, post: dict, rnd: dict | None) -> dict:
        """Baselines that could explain a gain away, on the same sentences, and the verdict."""
        e = self.config.evaluation
        variant = {"direction": e.direction, "scoring": e.scoring}
        named = {"pre": pre, "post": post}
        if rnd is not None:
            named["random"] = rnd
        spaces = {name: select_layer(sp["langs"], e.layer) for name, sp in named.items()}
        held = white = None
        if "center" in pre:
            centre = {n: select_layer(sp["center"], e.layer) for n, sp in named.items()}
            held = {n: heldout_means(c) for n, c in centre.items()}
            white = {n: heldout_whitening(c) for n, c in centre.items()}
        table = control_table(
            spaces, held_out_means=held, held_out_whitening=white, return_scores=True, **variant
        )
        scores = table.pop("scores")
        # fair baselines only (the optimistic in-sample ones are reported, not competed with),
        # unless there is no held-out split: then the optimistic ones, and the note says so
        fair_pre, note = pick_controls(scores, "pre")
        baselines = {f"no intervention, {label}": values for label, values in fair_pre.items()}
        best = best_layer(self.per_layer_pre)
        baselines[f"no intervention, best layer ({best['layer']}), raw"] = sentence_scores(
            select_layer(pre["langs"], best["layer"]), **variant
        )
        if rnd is not None:
            baselines["random units (same count and values), raw"] = scores["random (raw)"]
        if self._steered is not None:  # the steering-vector baseline (issue 7 item 4)
            name, space = self._steered
            baselines[name] = sentence_scores(select_layer(space["langs"], e.layer), **variant)
        # the intervention's best result: raw or with the fair centring
        candidates = {"raw": scores["post (raw)"]}
        candidates.update(pick_controls(scores, "post")[0])  # the same controls as the baselines
        chosen = max(candidates, key=lambda k: float(np.mean(candidates[k])))
        result = verdict(
            candidates[chosen],
            baselines,
            n_boot=e.n_boot,
            seed=self.config.run.seed,
            intervention_name=f"experts (k={ex.k}, layer {e.layer}, {chosen})",
        )
        if note is not None:
            result["note"] = note
            result["summary"] = f"WARNING: {note}. {result['summary']}"
        per_layer = per_layer_controls(
            {n: sp["langs"] for n, sp in named.items()},
            {n: sp["center"] for n, sp in named.items()} if "center" in pre else None,
            target=ex.target,
            **variant,
        )
        per_layer["headline_layer"] = e.layer
        return {"table": table, "best_layer_pre": best, "verdict": result, "per_layer": per_layer}

    def _provenance(self, corpora: dict[str, Corpus], responses) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "languages": self.langs,
            "model": self.loaded.describe(),
            "corpora": {name: c.describe() for name, c in corpora.items()},
            "paraphrase_pairs": self.pairs.describe() if self.pairs is not None else None,
            "responses": (
                {k: v for k, v in responses.meta.items() if k != "model"} if responses else None
            ),
            "versions": versions(),
            "machine": {"platform": platform.platform(), "processor": platform.machine()},
            "langsteer": __version__,
        }


def run_study(config: StudyConfig, out_dir: str | Path, **options) -> dict[str, Any]:
    """Run a study and write ``results.json`` (the report is written by the caller)."""
    return Study(config, out_dir, **options).run()
