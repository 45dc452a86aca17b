#!/usr/bin/env python3
"""Reference Kaplan-Meier curves from Python's lifelines, a second implementation beside R.

Run from this directory: `python3 make_lifelines_reference.py`. It reads the committed
`lung.csv` and `veteran.csv` (written by make_reference.R), fits lifelines' KaplanMeierFitter
for each group (lung by sex, veteran by cell type) and writes km_lung_sex_lifelines.csv and
km_veteran_celltype_lifelines.csv, every number as repr(float) (the shortest text that reads
back as the same double), plus VERSIONS_lifelines. crates/domain/tests/lifelines.rs compares
Tessera's ConfType::LogLog curves against them.

The rows are lifelines' own timeline, unchanged: it starts at time 0 (S = 1, no event) and has
every distinct observed time, events and censorings alike, with the at-risk, event and censored
counts from its event table, so the test can check that the rows align with Tessera's steps.
lifelines' limits are the "exponential Greenwood" ones, log(-log S) +/- z * sqrt(Greenwood) /
|log S|, which is R's conf.type = "log-log"; where that is undefined (S = 1 or S = 0) lifelines
writes what its arithmetic gives (1.0 after fillna for S = 1; 0.0 for S = 0), also unchanged.
"""

import platform

import lifelines
import numpy as np
import pandas as pd
import scipy
from lifelines import KaplanMeierFitter


def fit(data: str, group: str, out: str) -> None:
    df = pd.read_csv(data, dtype={group: str})
    rows = []
    for label in sorted(df[group].unique()):
        sub = df[df[group] == label]
        km = KaplanMeierFitter(alpha=0.05).fit(sub["time"], sub["event"])
        table = km.event_table
        surv = km.survival_function_.iloc[:, 0]
        ci = km.confidence_interval_
        lower, upper = ci.iloc[:, 0], ci.iloc[:, 1]
        # The event table and the curve share lifelines' timeline; check rather than assume it.
        assert list(table.index) == list(surv.index) == list(ci.index)
        for t in table.index:
            rows.append(
                (
                    label,
                    float(t),
                    int(table.at[t, "at_risk"]),
                    int(table.at[t, "observed"]),
                    int(table.at[t, "censored"]),
                    float(surv.at[t]),
                    float(lower.at[t]),
                    float(upper.at[t]),
                )
            )
    with open(out, "w") as f:
        f.write("group,time,n_risk,n_event,n_censor,surv,lower,upper\n")
        for label, t, n, d, c, s, lo, hi in rows:
            f.write(f"{label},{t!r},{n},{d},{c},{s!r},{lo!r},{hi!r}\n")


fit("lung.csv", "sex", "km_lung_sex_lifelines.csv")
fit("veteran.csv", "celltype", "km_veteran_celltype_lifelines.csv")
with open("VERSIONS_lifelines", "w") as f:
    f.write(
        f"lifelines {lifelines.__version__} numpy {np.__version__} pandas {pd.__version__} "
        f"scipy {scipy.__version__} python {platform.python_version()}\n"
    )
