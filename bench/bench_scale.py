"""ExpertFinder at Aya-23-8B scale: a disk memmap of responses, chunked scoring, bounded memory.

    python bench/bench_scale.py                               # 1,048,576 units x 6,000 (25 GB)
    python bench/bench_scale.py --units 65536 --sentences 6000  # smaller, extrapolate linearly

Fills a float32 memmap (in a temp dir, deleted at the end) in row blocks with ReLU-like random
data plus a few planted units that separate the labels, runs ``ExpertFinder(k=2000).fit`` on it
and prints wall time, peak RSS (VmHWM) and anonymous memory (RssAnon; file pages of the memmap
are reclaimable), checks the planted units are in the top k and a few AUROCs equal
scikit-learn's ``roc_auc_score``.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import langsteer.methods.experts as experts_mod
from langsteer.methods.experts import ExpertFinder


def status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def io_read_bytes() -> int:
    """Bytes this process caused to be read from storage (page-cache misses included)."""
    try:
        with open("/proc/self/io") as f:
            for line in f:
                if line.startswith("read_bytes:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed_stages() -> dict[str, float]:
    """Wrap the two passes ``ExpertFinder.fit`` makes over the matrix, to time each."""
    seconds: dict[str, float] = {}
    for name in ("expertise_scores", "_chunked_stats"):
        fn = getattr(experts_mod, name)

        def wrapper(*a, _fn=fn, _name=name, **k):
            t0 = time.perf_counter()
            try:
                return _fn(*a, **k)
            finally:
                seconds[_name] = seconds.get(_name, 0.0) + time.perf_counter() - t0

        setattr(experts_mod, name, wrapper)
    return seconds


class AnonSampler(threading.Thread):
    """Samples RssAnon every 0.2 s (there is no kernel high-water mark for it), and every
    ``report_s`` prints elapsed time, bytes read from storage and memory (progress of long runs).
    """

    def __init__(self, report_s: float = 60.0) -> None:
        super().__init__(daemon=True)
        self.peak = status_kb("RssAnon")
        self.stop = threading.Event()
        self.report_s = report_s

    def run(self) -> None:
        start = last = time.perf_counter()
        read0 = io_read_bytes()
        while not self.stop.wait(0.2):
            self.peak = max(self.peak, status_kb("RssAnon"))
            now = time.perf_counter()
            if self.report_s and now - last >= self.report_s:
                last = now
                print(
                    f"  ... {now - start:6.0f} s: read {(io_read_bytes() - read0) / 1e9:7.1f} GB, "
                    f"RSS {status_kb('VmRSS') / 2**20:5.1f} GiB, "
                    f"RssAnon {status_kb('RssAnon') / 2**20:5.2f} GiB",
                    flush=True,
                )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=1_048_576)
    p.add_argument("--sentences", type=int, default=6000)
    p.add_argument("--k", type=int, default=2000)
    p.add_argument("--planted", type=int, default=8)
    p.add_argument("--block-rows", type=int, default=64)
    p.add_argument("--dir", default=None, help="parent of the temp dir (default: system temp)")
    args = p.parse_args()
    n, m = args.sentences, args.units
    rng = np.random.default_rng(0)
    labels = np.zeros(n, bool)
    labels[rng.choice(n, n // 5, replace=False)] = True
    planted = rng.choice(m, args.planted, replace=False)
    tmp = Path(tempfile.mkdtemp(prefix="langsteer-scale-", dir=args.dir))
    # a SIGTERM (timeout, kill) must still delete the 25 GB file: make it run the finally below
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        path = tmp / "responses.f32"
        size_gb = n * m * 4 / 1e9
        t0 = time.perf_counter()
        mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, m))
        for s in range(0, n, args.block_rows):
            e = min(n, s + args.block_rows)
            block = rng.standard_normal((e - s, m), dtype=np.float32)
            np.maximum(block, 0, out=block)  # ReLU-like: half exact zeros
            block[:, planted] += 2.0 * labels[s:e, None]
            mm[s:e] = block
        mm.flush()
        del mm
        t_fill = time.perf_counter() - t0
        print(
            f"{n} sentences x {m} units float32 = {size_gb:.2f} GB memmap, filled in "
            f"{t_fill:.1f} s",
            flush=True,
        )
        values = np.load(path, mmap_mode="r")
        reset_peak()
        base_rss, base_anon = status_kb("VmRSS"), status_kb("RssAnon")
        sampler = AnonSampler()
        sampler.start()
        stages = timed_stages()
        read0, fault0 = io_read_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_majflt
        t0 = time.perf_counter()
        finder = ExpertFinder(k=args.k).fit(values, labels)
        t_fit = time.perf_counter() - t0
        sampler.stop.set()
        sampler.join()
        hwm = status_kb("VmHWM")
        read = io_read_bytes() - read0
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_majflt - fault0
        print(f"ExpertFinder(k={args.k}).fit: {t_fit:.1f} s ({t_fit / m * 1e6:.1f} us/unit)")
        print(
            "  of which "
            + ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
            + f"; read from storage {read / 1e9:.2f} GB ({read / (n * m * 4):.2f}x the file), "
            f"{faults} major page faults"
        )
        print(
            f"peak RSS (VmHWM) {hwm / 1024:.0f} MiB (before fit {base_rss / 1024:.0f} MiB); "
            f"peak RssAnon (sampled) {sampler.peak / 1024:.0f} MiB "
            f"(before {base_anon / 1024:.0f} MiB)"
        )
        found = np.isin(planted, finder.top_)
        print(f"planted units in top {args.k}: {int(found.sum())}/{len(planted)}")
        cols = np.concatenate([planted[:2], rng.choice(m, 4, replace=False)])
        diff = max(
            abs(float(finder.scores_[c]) - roc_auc_score(labels, np.asarray(values[:, c])))
            for c in cols
        )
        print(f"max |AUROC - sklearn roc_auc_score| over {len(cols)} columns: {diff:.2e}")
        assert found.all() and diff < 1e-6
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
