#!/usr/bin/env python3
"""The numpy floor of the survival benchmark (crates/cli/benches/survival.rs runs it).

`python3 survival_numpy.py FILE.csv [--reps N]`: reads the time,event,brand CSV, then times a
fully vectorised Kaplan-Meier by brand (product-limit, Greenwood variance, log-scale limits as
R's default) and log-rank test across brands (observed, expected, the full variance matrix and
the chi-square), and prints one JSON line with the load time and each compute time.

Written to be as fast as numpy allows on these data, so that it is a fair floor:
- Times are whole days, so (brand, time, event) packs into one int64 key and a single
  `ndarray.sort` (numpy's SIMD quicksort, no index array) orders everything; runs of equal
  (brand, time) then give the events (`add.reduceat`) and removals (run lengths) per step.
- At risk is each brand's size minus a cumulative sum of removals; S is a `cumprod` and the
  Greenwood sum a `cumsum` over each brand's slice (a loop over the 50 brands only).
- The log-rank test works on a dense brands x distinct-times table of deaths and at risk
  (`bincount` of the runs, a few hundred thousand, not the ten million rows): expected counts
  are a row sum and the variance matrix diag(sum w p) - (p w) p^T is one matrix product.
"""

import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd

Z95 = 1.959963984540054


def load(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    df = pd.read_csv(path, dtype={"time": np.int64, "event": np.int8, "brand": np.int16}, engine="c")
    return df["time"].to_numpy(), df["event"].to_numpy(), df["brand"].to_numpy()


def km_by_brand(time_: np.ndarray, event: np.ndarray, brand: np.ndarray) -> dict:
    """Kaplan-Meier per brand: one row per distinct (brand, time), events or censorings."""
    k = int(brand.max()) + 1
    tbits = int(time_.max()).bit_length()
    key = (brand.astype(np.int64) << (tbits + 1)) | (time_ << 1) | event
    key.sort()
    bt = key >> 1
    starts = np.flatnonzero(np.concatenate(([True], bt[1:] != bt[:-1])))
    removed = np.diff(np.append(starts, key.size))
    d = np.add.reduceat(key & 1, starts)
    run_bt = bt[starts]
    run_brand = run_bt >> tbits
    run_time = run_bt & ((1 << tbits) - 1)
    first = np.searchsorted(run_brand, np.arange(k + 1))
    size = np.bincount(run_brand, weights=removed, minlength=k).astype(np.int64)
    gone = np.cumsum(removed) - removed
    n = size[run_brand] - (gone - gone[first[run_brand]])
    nf = n.astype(np.float64)
    df_ = d.astype(np.float64)
    factor = (nf - df_) / nf
    with np.errstate(divide="ignore"):
        gw = np.where(d < n, df_ / (nf * (nf - df_)), 0.0)
    surv = np.empty_like(factor)
    var = np.empty_like(factor)
    for g in range(k):
        a, b = first[g], first[g + 1]
        np.cumprod(factor[a:b], out=surv[a:b])
        np.cumsum(gw[a:b], out=var[a:b])
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.where(surv > 0, np.sqrt(var), np.inf)
        log_s = np.log(surv)
        lower = np.exp(log_s - Z95 * se)
        upper = np.minimum(np.exp(log_s + Z95 * se), 1.0)
    return {
        "brand": run_brand, "time": run_time, "n": n, "d": d, "removed": removed, "size": size,
        "surv": surv, "se": se, "lower": lower, "upper": upper,
    }


def log_rank(km: dict) -> tuple[float, int]:
    """Log-rank across brands from the KM runs: (chi-square, degrees of freedom)."""
    size = km["size"]
    k = size.size
    times, tidx = np.unique(km["time"], return_inverse=True)
    t = times.size
    cell = km["brand"] * t + tidx
    deaths = np.bincount(cell, weights=km["d"], minlength=k * t).reshape(k, t)
    removed = np.bincount(cell, weights=km["removed"], minlength=k * t).reshape(k, t)
    at_risk = size[:, None] - (np.cumsum(removed, axis=1) - removed)
    d_t = deaths.sum(axis=0)
    n_t = at_risk.sum(axis=0)
    m = d_t > 0
    d_t, n_t, at_risk = d_t[m], n_t[m], at_risk[:, m]
    observed = deaths.sum(axis=1)
    expected = at_risk @ (d_t / n_t)
    w = np.where(n_t > 1, d_t * (n_t - d_t) / np.maximum(n_t - 1, 1), 0.0)
    p = at_risk / n_t
    pw = p * w
    variance = np.diag(pw.sum(axis=1)) - pw @ p.T
    present = np.flatnonzero(size > 0)[:-1]
    z = (observed - expected)[present]
    chisq = float(z @ np.linalg.solve(variance[np.ix_(present, present)], z))
    return chisq, present.size


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    t0 = time.perf_counter()
    time_, event, brand = load(args.csv)
    load_s = time.perf_counter() - t0
    km_s, lr_s = [], []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        km = km_by_brand(time_, event, brand)
        t1 = time.perf_counter()
        chisq, df = log_rank(km)
        t2 = time.perf_counter()
        km_s.append(t1 - t0)
        lr_s.append(t2 - t1)
    print(json.dumps({
        "tool": "numpy (vectorised floor)",
        "version": f"numpy {np.__version__}, pandas {pd.__version__} (load)",
        "rows": int(time_.size),
        "load_s": load_s,
        "km_s": km_s,
        "logrank_s": lr_s,
        "compute_s": [a + b for a, b in zip(km_s, lr_s)],
        "compute_median_s": statistics.median(a + b for a, b in zip(km_s, lr_s)),
        "chisq": f"{chisq:.17g}",
        "df": df,
        "groups": int(km["size"].size),
        "steps": int(km["surv"].size),
        "surv_sum": f"{float(km['surv'].sum()):.17g}",
        "events": int(event.sum()),
    }))


if __name__ == "__main__":
    main()
