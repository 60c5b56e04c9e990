"""ExpertFinder at Aya-23-8B scale: a disk memmap of responses, one read of it, bounded memory.

    python bench/bench_scale.py                                 # 1,048,576 units x 6,000 (25 GB)
    python bench/bench_scale.py --units 131072 --sentences 6000 --legacy  # 3 GB, before/after

Fills a float32 memmap (in a temp dir, deleted at the end) in row blocks with ReLU-like random
data plus a few planted units that separate the labels, runs ``ExpertFinder(k=2000).fit`` on it
and prints wall time, bytes read from storage during ``fit`` (/proc/self/io read_bytes), peak RSS
(VmHWM) and anonymous memory (RssAnon; file pages of the memmap are reclaimable), checks the
planted units are in the top k and a few AUROCs equal scikit-learn's ``roc_auc_score``.
``--legacy`` first runs the old two-pass path (column chunks for the scores, then again for the
statistics; kept here only, for comparison) and checks both give bitwise the same numbers. As
root, the page cache is dropped before each measured fit (a cold read, like a first fit) unless
``--warm``; otherwise a line says the figures are warm-cache ones.
"""

from __future__ import annotations

import argparse
import os
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
from langsteer.metrics import expertise_scores

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_metrics_panels import two_pass_stats  # the old fit's statistics pass


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


def legacy_two_passes(seconds: dict[str, float]):
    """A stand-in for ``scores_and_stats`` running the old two passes, timing each."""

    def two_passes(values, labels, metrics, device=None):
        t0 = time.perf_counter()
        scores = expertise_scores(values, labels, metrics, device=device) if metrics else {}
        t1 = time.perf_counter()
        stats = two_pass_stats(values, np.asarray(labels, bool))
        seconds["scores"], seconds["statistics"] = t1 - t0, time.perf_counter() - t1
        return scores, stats

    return two_passes


def read_ahead_kb(path: Path) -> str:
    """The read-ahead window of the disk holding ``path`` (a page fault in a file mapping reads
    a window around the page, which is what turns column chunks into repeated reads)."""
    st = os.stat(path)
    dev = f"/sys/dev/block/{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
    for cand in (f"{dev}/queue/read_ahead_kb", f"{dev}/../queue/read_ahead_kb"):
        try:
            return Path(cand).read_text().strip() + " KiB"
        except OSError:
            continue
    return "unknown"


def drop_page_cache() -> bool:
    """Write back and drop the page cache (root only), so the fit reads the file from disk."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
    except OSError:
        return False
    return True


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


def measure_fit(values, labels, k: int, legacy: bool) -> tuple[dict, ExpertFinder]:
    """One ``ExpertFinder(k).fit``: seconds, bytes read, page faults, memory."""
    stages: dict[str, float] = {}
    real = experts_mod.scores_and_stats
    if legacy:
        experts_mod.scores_and_stats = legacy_two_passes(stages)
    reset_peak()
    base_anon = status_kb("RssAnon")
    sampler = AnonSampler()
    sampler.start()
    read0, fault0 = io_read_bytes(), resource.getrusage(resource.RUSAGE_SELF).ru_majflt
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        finder = ExpertFinder(k=k).fit(values, labels)
    finally:
        experts_mod.scores_and_stats = real
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    sampler.stop.set()
    sampler.join()
    return {
        "seconds": seconds,
        "cpu": cpu,
        "stages": stages,
        "read": io_read_bytes() - read0,
        "faults": resource.getrusage(resource.RUSAGE_SELF).ru_majflt - fault0,
        "hwm_kb": status_kb("VmHWM"),
        "anon_kb": sampler.peak,
        "base_anon_kb": base_anon,
    }, finder


def print_run(res: dict, n: int, m: int) -> None:
    us = res["seconds"] / m * 1e6
    print(
        f"{res['name']}: ExpertFinder.fit {res['seconds']:.1f} s ({us:.1f} us/unit), "
        f"process CPU {res['cpu']:.1f} s"
    )
    if res["stages"]:
        print("  of which " + ", ".join(f"{k} {v:.1f} s" for k, v in res["stages"].items()))
    print(
        f"  read from storage {res['read'] / 1e9:.2f} GB ({res['read'] / (n * m * 4):.2f}x the "
        f"file), {res['faults']} major page faults; peak RSS (VmHWM) {res['hwm_kb'] / 2**20:.2f}"
        f" GiB, peak RssAnon (sampled) {res['anon_kb'] / 2**20:.2f} GiB "
        f"(before {res['base_anon_kb'] / 2**20:.2f} GiB)",
        flush=True,
    )


def print_table(results: list[dict], n: int, m: int) -> None:
    print(f"\n{m:,} units x {n:,} sentences, float32 file {n * m * 4 / 1e9:.2f} GB")
    print("| fit | cache | seconds | process CPU s | read from storage | x file | peak RssAnon |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r['name']} | {'dropped' if r['cold'] else 'warm'} | {r['seconds']:.1f} | "
            f"{r['cpu']:.1f} | "
            f"{r['read'] / 1e9:.2f} GB | {r['read'] / (n * m * 4):.2f} | "
            f"{r['anon_kb'] / 2**20:.2f} GiB |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--units", type=int, default=1_048_576)
    p.add_argument("--sentences", type=int, default=6000)
    p.add_argument("--k", type=int, default=2000)
    p.add_argument("--planted", type=int, default=8)
    p.add_argument("--block-rows", type=int, default=64)
    p.add_argument("--dir", default=None, help="parent of the temp dir (default: system temp)")
    p.add_argument(
        "--legacy",
        action="store_true",
        help="first run the old two-pass fit on the same file (before/after in one run)",
    )
    p.add_argument(
        "--warm",
        action="store_true",
        help="do not drop the page cache before each fit (dropping it slows other processes)",
    )
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
        path = tmp / "responses.npy"
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
            f"{t_fill:.1f} s; disk read-ahead {read_ahead_kb(path)}",
            flush=True,
        )
        runs = [("two passes (before)", True)] if args.legacy else []
        runs.append(("one pass (after)", False))
        results, fitted = [], {}
        for name, legacy in runs:
            cold = not args.warm and drop_page_cache()
            if not cold:
                print("  (the page cache was NOT dropped: --warm, or not root; warm figures)")
            values = np.load(path, mmap_mode="r")
            res, fitted[name] = measure_fit(values, labels, args.k, legacy)
            res.update(name=name, cold=cold)
            results.append(res)
            print_run(res, n, m)
            finder = fitted[name]
            found = np.isin(planted, finder.top_)
            print(f"  planted units in top {args.k}: {int(found.sum())}/{len(planted)}")
            cols = np.concatenate([planted[:2], rng.choice(m, 4, replace=False)])
            diff = max(
                abs(float(finder.scores_[c]) - roc_auc_score(labels, np.asarray(values[:, c])))
                for c in cols
            )
            print(f"  max |AUROC - sklearn roc_auc_score| over {len(cols)} columns: {diff:.2e}")
            assert found.all() and diff < 1e-6
            del values
        if len(fitted) == 2:
            a, b = fitted.values()
            same = all(
                np.array_equal(getattr(a, f), getattr(b, f))
                for f in ("scores_", "pos_mean_", "pos_median_", "neg_mean_", "top_")
            )
            print(f"one pass == two passes, bitwise (scores, statistics, top k): {same}")
            assert same
        print_table(results, n, m)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
