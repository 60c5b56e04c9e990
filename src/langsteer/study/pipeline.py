"""A study, orchestrated: data -> probing pass -> one space per model state -> scores -> results.

Every method of the study gets the same measurements on the same sentences: the original model
is embedded once, each model method once per target (after choosing any candidate parameters on
the held-out split), every space is scored under every embedding method at every layer, and the
leaderboard compares each with the best method that leaves the model untouched. Expensive
passes are cached, so a re-run (or an interrupted one) only computes what is missing. The
measuring itself lives in :mod:`langsteer.evaluation`; this module only decides what runs when.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langsteer.config import MethodSpec, StudyConfig
from langsteer.config.methods import candidates
from langsteer.encoding.distributed import distributed_state
from langsteer.evaluation.comparison import ORIGINAL, heldout_score, score_space
from langsteer.evaluation.leaderboard import leaderboard, rows_of
from langsteer.evaluation.measure import paper_measures
from langsteer.generation.sweep import study_generation
from langsteer.methods import METHODS, ProbeData, make_method
from langsteer.models import LoadedModel, load_model
from langsteer.models.embedded import EMBEDDED_ALIASES, cache_root, load_embedded
from langsteer.study.data import StudyData, prepare_data
from langsteer.study.results import assemble, method_record, space_record
from langsteer.study.spaces import StudySentences, encode_space

__all__ = ["Study", "run_study"]


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
    )


class Study:
    """Runs one configured study; ``run()`` returns the results dict."""

    def __init__(self, config: StudyConfig, *, allow_other_model: bool = False) -> None:
        self.config = config
        self.timer = Timer()
        self.cache = cache_root(config.run.cache_dir)
        self.allow_other_model = allow_other_model

    def run(self, data: StudyData | None = None) -> dict[str, Any]:
        cfg, t = self.config, self.timer
        with t("load_corpora"):
            data = data or prepare_data(cfg)  # everything checked before the model loads
        with t("load_model"):
            self.loaded = open_model(cfg)
        for sets in data.expert_files.values():
            for ex in sets.values():
                ex.check_compatible(self.loaded, allow_other_model=self.allow_other_model)
        self.data = data
        self.sentences = StudySentences.from_corpora(
            data.corpora, data.languages["evaluation"], data.pairs
        )
        self.embedding = {
            m.label: make_method(m.name, **cfg.method_params(m))
            for m in cfg.methods
            if m.kind == "embedding"
        }
        for spec in (m for m in cfg.methods if m.kind == "model"):
            for params in candidates(cfg.method_params(spec)):  # a layer the model lacks...
                make_method(spec.name, **params).check_model(self.loaded)
        self.probe = self._probe()
        with t("embeddings_original"):
            original = self._space(ORIGINAL)
        with t("scoring"):
            scored = [score_space(original, self.embedding, **self._score_opts())]
        per_target: dict[str, dict[str, Any]] = {}
        fitted: dict[str, dict[str, Any]] = {}
        for target in data.languages["targets"]:
            per_target[target], fitted[target] = {}, {}
            for spec in (m for m in cfg.methods if m.kind == "model"):
                if spec.files and target not in data.expert_files[spec.label]:
                    continue
                method, tried = self._fit(spec, target)
                with t(f"embeddings:{spec.label}"), method.attach(self.loaded) as h:
                    space = self._space(spec.label, handle=h, target=target)
                    space.first_layer = h.first_hidden_state()
                with t("scoring"):
                    s = score_space(space, self.embedding, **self._score_opts())
                    measures = paper_measures(original, space, target, **self._paper_opts())
                scored.append(s)
                fitted[target][spec.label] = method
                per_target[target][spec.label] = {
                    **method_record(method, spec, h, tried),
                    **measures,
                    **space_record(s),
                }
        with t("leaderboard"):
            rows = [r for s in scored for r in self._rows(s)]
            table, baseline = leaderboard(rows, n_boot=cfg.evaluation.n_boot, seed=cfg.run.seed)
        generation = None
        if cfg.sweep.enabled:
            with t("generation"):
                generation = study_generation(
                    self.loaded, fitted, data, self.sentences, cfg, cache_dir=self.cache
                )
        self.fitted = fitted
        parts = (scored[0], per_target, table, baseline, generation, dict(t.seconds))
        return assemble(cfg, data, self.loaded, self.probe, *parts)

    def _probe(self) -> ProbeData | None:
        """The probing pass: one forward per probing sentence records what every method needs."""
        cfg, r = self.config, self.config.run
        unfitted = [m for m in cfg.methods if m.kind == "model" and not m.files]
        if not unfitted:
            return None
        probe = ProbeData(
            self.loaded,
            self.data.corpora["experts"],
            self.data.languages["probed"],
            skip_bos=cfg.experts.skip_bos,
            batch_size=r.batch_size,
            max_length=r.max_length,
            cache_dir=self.cache,
            progress=r.progress,
        )
        with self.timer("probing"):
            needs = [
                n
                for m in unfitted
                for c in candidates(cfg.method_params(m))
                for n in make_method(m.name, **c).needs()
            ]
            probe.prepare(needs)
        return probe

    def _space(
        self, name: str, handle: Any = None, target: str | None = None, heldout_only: bool = False
    ):
        method = None if name == ORIGINAL else name
        return encode_space(
            self.loaded,
            self.sentences,
            self.config,
            name=name,
            cache_dir=self.cache,
            handle=handle,
            target=target,
            method=method,
            heldout_only=heldout_only,
        )

    def _fit(self, spec: MethodSpec, target: str) -> tuple[Any, list[dict[str, Any]]]:
        """The fitted method for ``target``; candidates (lists) chosen on the held-out split."""
        if spec.files:
            ex = self.data.expert_files[spec.label][target]
            params = self.config.method_params(spec)
            for key in ("units", "pooling", "score", "k", "bottom_k"):  # the file's, unless given
                if key not in spec.given:
                    params.pop(key, None)
            method = METHODS[spec.name].from_expert_set(
                ex, allow_other_model=self.allow_other_model, **params
            )
            return method, []
        options = candidates(self.config.method_params(spec))
        with self.timer(f"fit:{spec.label}"):
            methods = [make_method(spec.name, **p).fit(self.probe, target) for p in options]
        if len(methods) == 1:
            return methods[0], []
        if not self.sentences.heldout:
            raise ValueError(
                f"method {spec.label!r} lists candidate parameters, chosen on the held-out "
                "split: set corpus.n_center > 0"
            )
        scores = []
        with self.timer(f"choose:{spec.label}"):
            for method, params in zip(methods, options, strict=True):
                with method.attach(self.loaded) as h:
                    sp = self._space(spec.label, handle=h, target=target, heldout_only=True)
                    first = h.first_hidden_state()
                best = heldout_score(
                    sp.evaluated,
                    self.embedding,
                    variant=self._variant(),
                    seed=self.config.run.seed,
                    first_layer=first,
                )
                scores.append({"params": params, **best})
        chosen = max(range(len(methods)), key=lambda i: (scores[i]["score"], scores[i]["margin"]))
        scores[chosen]["chosen"] = True
        return methods[chosen], scores

    def _variant(self) -> dict[str, Any]:
        e = self.config.evaluation
        return {"direction": e.direction, "scoring": e.scoring}

    def _score_opts(self) -> dict[str, Any]:
        e = self.config.evaluation
        return {
            "layers": e.layers or None,
            "variant": self._variant(),
            "geometry": self.config.analyses.geometry,
            "seed": self.config.run.seed,
        }

    def _paper_opts(self) -> dict[str, Any]:
        e, r = self.config.evaluation, self.config.run
        return {
            "layer": e.layer,
            "analyses": self.config.analyses,
            "direction": e.direction,
            "scoring": e.scoring,
            "medoid": e.medoid,
            "n_boot": e.n_boot,
            "seed": r.seed,
            "correlation_languages": e.correlation_languages or None,
        }

    def _rows(self, scores) -> list:
        e = self.config.evaluation
        how = (
            e.select_layer if self.sentences.heldout or e.select_layer == "fixed" else ("evaluated")
        )
        model = None
        if scores.method is not None:
            spec = next(m for m in self.config.methods if m.label == scores.method)
            model = make_method(spec.name)
        return rows_of(scores, self.embedding, how, e.layer, model)

    @property
    def is_main(self) -> bool:
        """Only one process writes results under ``accelerate launch``."""
        state = distributed_state()
        return state is None or state.is_main_process


def run_study(
    config: StudyConfig,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    report: bool = True,
    **options: Any,
) -> dict[str, Any]:
    """Run a study; write results.json, expert files and (``report``) the report into
    ``out_dir`` as one consistent set (staged, then swapped in)."""
    from langsteer.study.data import ensure_output
    from langsteer.study.outputs import write_outputs

    out = Path(out_dir)
    ensure_output(out, overwrite)
    study = Study(config, **options)
    with study.timer("load_corpora"):
        data = prepare_data(config)  # everything checked before the model loads
    results = study.run(data)
    if study.is_main:
        write_outputs(out, results, study, report=report)
    return results
