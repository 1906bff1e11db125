#!/usr/bin/python3
"""Peers of fnprobe's spatial ICA for tests/bench/ica_bench.cc.

Reads X (T x V, .npy) and the planted sources (K x V, .npy), runs the asked
peers on the same data with the same K and logcosh, and prints one JSON
object per peer on stdout:
  {"method", "seconds", "iterations", "recovery_mean", "recovery_min"}
where recovery is the |correlation| of each planted source with the
component the Hungarian matching assigns it (scipy's
linear_sum_assignment), and seconds the fit alone (not reading the file).

Peers:
  sklearn  scikit-learn's FastICA(n_components=K, whiten="unit-variance",
           fun="logcosh", random_state=seed) on Xᵀ (units are the samples),
           as the shared reference ran it. Debian's python3-sklearn.
  numpy    the short numpy recipe the issue cites: randomized SVD to K
           (4 power iterations), then symmetric FastICA on the K x V
           whitened data, float64 after the first projection.

Run with Debian's /usr/bin/python3 (numpy, scipy, sklearn from apt).
"""
import argparse
import json
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment


def recovery(estimated, planted):
    """Matched |corr| of each planted source (rows) with `estimated` rows."""
    e = estimated - estimated.mean(axis=1, keepdims=True)
    p = planted - planted.mean(axis=1, keepdims=True)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    p /= np.linalg.norm(p, axis=1, keepdims=True)
    corr = np.abs(p @ e.T)
    rows, cols = linear_sum_assignment(-corr)
    matched = np.zeros(len(planted))
    matched[rows] = corr[rows, cols]
    return float(matched.mean()), float(matched.min())


def run_sklearn(x, k, seed, max_iter, tol):
    from sklearn.decomposition import FastICA
    ica = FastICA(n_components=k, whiten="unit-variance", fun="logcosh",
                  random_state=seed, max_iter=max_iter, tol=tol)
    start = time.perf_counter()
    sources = ica.fit_transform(x.T)  # V x K
    seconds = time.perf_counter() - start
    return sources.T, seconds, int(ica.n_iter_)


def sym_decorrelation(w):
    s, u = np.linalg.eigh(w @ w.T)
    return (u * (1.0 / np.sqrt(s))) @ u.T @ w


def run_numpy(x, k, seed, max_iter, tol):
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    xt = x.T - x.mean(axis=1)  # V x T, each time point centred over units
    v = xt.shape[0]
    l = k + 10
    q, _ = np.linalg.qr(xt @ rng.standard_normal((xt.shape[1], l),
                                                  dtype=xt.dtype))
    for _ in range(4):
        p, _ = np.linalg.qr(xt.T @ q)
        q, _ = np.linalg.qr(xt @ p)
    ub, s, _ = np.linalg.svd((xt.T @ q).T.astype(np.float64),
                             full_matrices=False)
    z = (q.astype(np.float64) @ ub[:, :k]) * np.sqrt(v)  # V x K whitened
    w = sym_decorrelation(rng.standard_normal((k, k)))
    iterations = max_iter
    for it in range(1, max_iter + 1):
        y = np.tanh(z @ w.T)
        gp = (1.0 - y * y).mean(axis=0)
        w1 = sym_decorrelation(y.T @ z / v - gp[:, None] * w)
        lim = np.max(np.abs(np.abs(np.sum(w1 * w, axis=1)) - 1.0))
        w = w1
        if lim < tol:
            iterations = it
            break
    sources = (z @ w.T).T
    seconds = time.perf_counter() - start
    return sources, seconds, iterations


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--x", required=True)
    ap.add_argument("--sources", required=True)
    ap.add_argument("--k", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-iter", type=int, default=200)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--peers", default="sklearn,numpy")
    args = ap.parse_args()
    x = np.load(args.x)
    planted = np.load(args.sources).astype(np.float64)
    runners = {"sklearn": run_sklearn, "numpy": run_numpy}
    for name in args.peers.split(","):
        if not name:
            continue
        sources, seconds, iterations = runners[name](
            x, args.k, args.seed, args.max_iter, args.tol)
        mean, low = recovery(np.asarray(sources, dtype=np.float64), planted)
        print(json.dumps({"method": name, "seconds": seconds,
                          "iterations": iterations, "recovery_mean": mean,
                          "recovery_min": low}), flush=True)


if __name__ == "__main__":
    sys.exit(main())
