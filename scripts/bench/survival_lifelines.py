#!/usr/bin/env python3
"""The lifelines side of the survival benchmark (crates/cli/benches/survival.rs runs it).

`python3 survival_lifelines.py FILE.csv [--rows N] [--reps N]`: reads the time,event,brand CSV
(only its first N rows with --rows: the rows are independent draws, so the first N are a sample
of the same population), then times KaplanMeierFitter fitted per brand and
`multivariate_logrank_test` across brands, as a lifelines user would write them, and prints
one JSON line with the load time and each compute time.
"""

import argparse
import json
import statistics
import time

import lifelines
import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--rows", type=int, default=None)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()
    t0 = time.perf_counter()
    df = pd.read_csv(args.csv, nrows=args.rows, dtype={"time": np.float64, "event": np.int8, "brand": np.int16})
    load_s = time.perf_counter() - t0
    km_s, lr_s = [], []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        fits = {}
        for brand, sub in df.groupby("brand", sort=True):
            fits[brand] = KaplanMeierFitter().fit(sub["time"], sub["event"])
        t1 = time.perf_counter()
        lr = multivariate_logrank_test(df["time"], df["brand"], df["event"])
        t2 = time.perf_counter()
        km_s.append(t1 - t0)
        lr_s.append(t2 - t1)
    # Steps as Tessera counts them: lifelines' timeline less its extra row at time 0.
    extra = {b: int(f.event_table.loc[0.0, "removed"] == 0) for b, f in fits.items()}
    steps = sum(len(f.survival_function_) - extra[b] for b, f in fits.items())
    surv_sum = sum(float(f.survival_function_.iloc[extra[b]:, 0].sum()) for b, f in fits.items())
    print(json.dumps({
        "tool": "lifelines",
        "version": f"lifelines {lifelines.__version__}, pandas {pd.__version__}",
        "rows": int(len(df)),
        "load_s": load_s,
        "km_s": km_s,
        "logrank_s": lr_s,
        "compute_s": [a + b for a, b in zip(km_s, lr_s)],
        "compute_median_s": statistics.median(a + b for a, b in zip(km_s, lr_s)),
        "chisq": f"{lr.test_statistic:.17g}",
        "df": int(lr.degrees_of_freedom),
        "groups": len(fits),
        "steps": int(steps),
        "surv_sum": f"{surv_sum:.17g}",
        "events": int(df["event"].sum()),
    }))


if __name__ == "__main__":
    main()
