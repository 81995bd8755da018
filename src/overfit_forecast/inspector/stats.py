"""Which hyperparameter ranges raise the rate of an issue: buckets per hyperparameter,
Fisher's exact test per (bucket, issue), Benjamini-Hochberg q-values. scipy is imported only
when the tests run."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from .detectors import _fmt


def bucketize(values: pd.Series, n_buckets: int = 4, max_categories: int = 8) -> pd.Series:
    """Bucket labels for one hyperparameter.

    - Non-numeric, or at most ``max_categories`` distinct values: one bucket per value.
    - Numeric, all values >= 0, spanning at least two decades among positive values:
      ``n_buckets`` equal-width bins of log10 (zeros get their own bucket "0").
    - Other numeric: quantile bins (``pandas.qcut``).

    Labels read like ``[0.01, 0.1)``; missing values get "missing".
    """
    if not pd.api.types.is_numeric_dtype(values) or values.nunique() <= max_categories:
        return values.map(lambda v: "missing" if pd.isna(v) else _fmt(v)).astype(str)
    v = values.astype(float)
    pos = v[v > 0]
    labels = pd.Series("missing", index=v.index, dtype=object)
    if (v.dropna() >= 0).all() and len(pos) and pos.max() / pos.min() >= 100:
        edges = np.linspace(np.log10(pos.min()), np.log10(pos.max()), n_buckets + 1)
        idx = np.clip(np.searchsorted(edges, np.log10(pos), side="right") - 1, 0, n_buckets - 1)
        for i in range(n_buckets):
            lo, hi = 10 ** edges[i], 10 ** edges[i + 1]
            close = "]" if i == n_buckets - 1 else ")"
            labels[pos.index[idx == i]] = f"[{_fmt(lo)}, {_fmt(hi)}{close}"
        labels[v == 0] = "0"
        return labels
    cats = pd.qcut(v, n_buckets, duplicates="drop")
    for iv in cats.cat.categories:
        labels[cats == iv] = f"({_fmt(float(iv.left))}, {_fmt(float(iv.right))}]"
    return labels


def _bucket_order(labels: pd.Series) -> list[str]:
    def key(s):
        m = re.match(r"[\[(]?(-?[\d.e+-]+)", s)
        try:
            return (0, float(m.group(1))) if m else (1, s)
        except ValueError:
            return (1, s)
    return sorted(labels.unique(), key=key)


def issue_correlations(df: pd.DataFrame, flags: pd.DataFrame, n_buckets: int = 4,
                       alpha: float = 0.05) -> pd.DataFrame:
    """Issue rate per hyperparameter bucket, with Fisher's exact test and BH q-values.

    For every hyperparameter (``df.attrs["hyperparameters"]``), bucket (:func:`bucketize`)
    and issue: trials in the bucket (``n``), trials with the issue there (``k``), the rate
    elsewhere, the risk difference, the odds ratio and the two-sided p-value of Fisher's
    exact test of bucket vs the rest (:func:`scipy.stats.fisher_exact`). q-values:
    Benjamini-Hochberg over every test of the table
    (:func:`scipy.stats.false_discovery_control`).

    Returns
    -------
    DataFrame
        Columns ``hyperparameter, bucket, issue, n, k, rate, n_else, k_else, rate_else,
        risk_difference, odds_ratio, p_value, q_value, significant, trial_ids``; sorted
        with significant risk-raising patterns first (by q, then risk difference).
    """
    from scipy.stats import false_discovery_control, fisher_exact

    params = df.attrs.get("hyperparameters", [])
    from .recommend import SWEEP_RECOMMENDATIONS  # sweep-level findings: not a bucket's doing

    issues = sorted(set(flags["issue"]) - set(SWEEP_RECOMMENDATIONS)) if len(flags) else []
    has = {i: df["trial_id"].isin(set(flags.loc[flags.issue == i, "trial_id"])).to_numpy() for i in issues}
    rows = []
    cache: dict = {}
    for p in params:
        b = bucketize(df[p], n_buckets)
        if b.nunique() < 2:
            continue
        for bucket in _bucket_order(b):
            inb = (b == bucket).to_numpy()
            n, n_else = int(inb.sum()), int((~inb).sum())
            for i in issues:
                k = int(has[i][inb].sum())
                k_else = int(has[i][~inb].sum())
                table = ((k, n - k), (k_else, n_else - k_else))
                if table not in cache:
                    cache[table] = fisher_exact(table)
                odds, pval = cache[table]
                ids = df["trial_id"][inb & has[i]].head(5).tolist()
                rows.append(dict(hyperparameter=p, bucket=bucket, issue=i, n=n, k=k, rate=k / n,
                                 n_else=n_else, k_else=k_else,
                                 rate_else=k_else / n_else if n_else else float("nan"),
                                 odds_ratio=float(odds), p_value=float(pval), trial_ids=ids))
    cols = ["hyperparameter", "bucket", "issue", "n", "k", "rate", "n_else", "k_else", "rate_else",
            "risk_difference", "odds_ratio", "p_value", "q_value", "significant", "trial_ids"]
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.DataFrame(rows)
    out["risk_difference"] = out["rate"] - out["rate_else"]
    out["q_value"] = false_discovery_control(out["p_value"].to_numpy(), method="bh")
    out["significant"] = out["q_value"] < alpha
    out["_rank"] = ~(out["significant"] & (out["risk_difference"] > 0))
    out = out.sort_values(["_rank", "q_value", "risk_difference"], ascending=[True, True, False])
    return out.drop(columns="_rank")[cols].reset_index(drop=True)


