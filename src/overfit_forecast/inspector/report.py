"""The report: a JSON-ready dict, its markdown, an optional LLM rewrite, the heatmap."""

from __future__ import annotations

import dataclasses
import os
import warnings

import numpy as np
import pandas as pd

from .detectors import SEVERITIES, DetectorThresholds
from .recommend import ISSUE_EXPLANATIONS, SWEEP_RECOMMENDATIONS, pattern_sentence, recommend
from .stats import _bucket_order, bucketize


def build_report(df: pd.DataFrame, flags: pd.DataFrame, patterns: pd.DataFrame,
                 th: DetectorThresholds = DetectorThresholds(), top: int = 10) -> dict:
    """The report's content as a JSON-ready dict: ``overview``, ``issues`` (breakdown),
    ``patterns`` (significant risk-raising ones, at most ``top``, each with title,
    explanation, evidence), ``recommendations``, ``flags`` (every trial-level flag) and
    ``thresholds``."""
    sev_counts = {s: int((flags["severity"] == s).sum()) for s in SEVERITIES}
    issues = []
    for issue, g in flags.groupby("issue", sort=False):
        issues.append({"issue": issue, "count": int(len(g)), "example_trial_ids": g["trial_id"].head(5).tolist()})
    issues.sort(key=lambda d: -d["count"])
    sig = patterns[patterns["significant"] & (patterns["risk_difference"] > 0)].copy()
    out_patterns, recs = [], []
    per_param_buckets = {p: _bucket_order(bucketize(df[p])) for p in sig["hyperparameter"].unique()}
    for row in sig.head(top).to_dict("records"):
        order = per_param_buckets[row["hyperparameter"]]
        row["is_high_bucket"] = order.index(row["bucket"]) >= len(order) / 2 if row["bucket"] in order else False
        out_patterns.append({
            "title": f"{row['hyperparameter']} in {row['bucket']} -> {row['issue']}",
            "explanation": ISSUE_EXPLANATIONS.get(row["issue"], ""),
            "evidence": pattern_sentence(row),
            "hyperparameter": row["hyperparameter"], "bucket": row["bucket"], "issue": row["issue"],
            "n": row["n"], "k": row["k"], "rate": row["rate"], "rate_else": row["rate_else"],
            "odds_ratio": row["odds_ratio"], "p_value": row["p_value"], "q_value": row["q_value"],
            "example_trial_ids": row["trial_ids"],
        })
        r = recommend(row)
        if r and r not in recs:
            recs.append(r)
    findings = _sweep_findings(flags)
    recs = [f["recommendation"] for f in findings] + recs
    if not recs and len(out_patterns):
        recs.append("No rule-based recommendation fits the patterns above; inspect their example trials.")
    elif not recs and len(flags):
        recs.append("No hyperparameter range stands out significantly; inspect the flagged trials one by one.")
    return {
        "overview": {
            "source": df.attrs.get("source", ""),
            "trials": int(len(df)),
            "hyperparameters": df.attrs.get("hyperparameters", []),
            "issues": int(len(flags)),
            "trials_affected": int(flags["trial_id"].nunique()) if len(flags) else 0,
            "severity_counts": sev_counts,
            "status_counts": {str(k): int(v) for k, v in df["status"].value_counts().items()},
            "objective": _objective_summary(df),
            "roles": dict(df.attrs.get("roles", {})),
            "assumptions": list(df.attrs.get("assumptions", [])),
        },
        "sweep_findings": findings,
        "issues": issues,
        "patterns": out_patterns,
        "recommendations": recs,
        "flags": flags.to_dict("records"),
        "thresholds": dataclasses.asdict(th),
    }


def _sweep_findings(flags: pd.DataFrame) -> list[dict]:
    """Findings about the sweep as a whole (issues in :data:`SWEEP_RECOMMENDATIONS`)."""
    out = []
    for issue, rec in SWEEP_RECOMMENDATIONS.items():
        hit = flags[flags["issue"] == issue]
        if len(hit):
            out.append({"issue": issue, "trials": int(len(hit)), "evidence": str(hit["evidence"].iloc[0]),
                        "explanation": ISSUE_EXPLANATIONS.get(issue, ""), "recommendation": rec})
    return out


def _objective_summary(df: pd.DataFrame) -> dict:
    """The objective's column, direction (and where it came from) and the best completed trial."""
    obj = {k: v for k, v in df.attrs.get("objective", {}).items() if k != "values"}
    if not obj.get("column") or "objective" not in df:
        return obj
    obj["file_column"] = df.attrs.get("roles", {}).get("objective", obj["column"])
    v = df["objective"].where(df["status"].eq("completed"))
    v = v[np.isfinite(v)]
    if len(v) and obj.get("direction") in ("minimize", "maximize"):
        i = v.idxmin() if obj["direction"] == "minimize" else v.idxmax()
        obj["best_trial_id"], obj["best_value"] = str(df.at[i, "trial_id"]), float(v[i])
    return obj


def report_markdown(report: dict) -> str:
    """``hparam_report.md``: Overview, Issue breakdown, Hyperparameter pathologies,
    Recommendations (the seed's sections), deterministic."""
    o = report["overview"]
    lines = ["# Hyperparameter Sweep Pathology Report", "", "## Overview", ""]
    lines.append(f"- Source: `{o['source']}`")
    lines.append(f"- {o['trials']} trials over {len(o['hyperparameters'])} hyperparameters "
                 f"({', '.join(o['hyperparameters']) or 'none'}).")
    lines.append(f"- This sweep had a total of {o['issues']} issues, with {o['trials_affected']} trials "
                 f"experiencing at least one issue.")
    lines.append("- Severity: " + ", ".join(f"{k} {v}" for k, v in o["severity_counts"].items()) + ".")
    lines.append("- Status: " + ", ".join(f"{k} {v}" for k, v in o["status_counts"].items()) + ".")
    ob = o.get("objective") or {}
    if ob.get("column"):
        best = (f"; best trial {ob['best_trial_id']} ({ob['best_value']:.4g})" if "best_trial_id" in ob else "")
        lines.append(f"- Objective: `{ob.get('file_column', ob['column'])}`, {ob['direction']} "
                     f"({ob['direction_from']}){best}.")
    lines += [f"- Assumed: {a}." for a in o.get("assumptions", [])]
    for f in report.get("sweep_findings", []):
        lines += ["", f"**Whole sweep: {f['issue']}.** {f['explanation']} {f['evidence']}."]
    lines += ["", "## Issue breakdown", ""]
    if report["issues"]:
        lines += ["| issue | count | example trial ids |", "|---|---|---|"]
        for d in report["issues"]:
            lines.append(f"| {d['issue']} | {d['count']} | {', '.join(map(str, d['example_trial_ids']))} |")
    else:
        lines.append("No issues detected.")
    lines += ["", "## Hyperparameter pathologies", ""]
    if report["patterns"]:
        for p in report["patterns"]:
            lines += [f"### {p['title']}", "", p["explanation"], "",
                      f"Evidence: {p['evidence']}; odds ratio {p['odds_ratio']:.3g}, Fisher p = "
                      f"{p['p_value']:.2g}. Examples: {', '.join(map(str, p['example_trial_ids']))}.", ""]
    else:
        lines += ["No hyperparameter bucket has a significantly higher issue rate than the rest "
                  "(Fisher's exact test, Benjamini-Hochberg q < 0.05).", ""]
    lines += ["## Recommendations", ""]
    lines += [f"- {r}" for r in report["recommendations"]] or ["- None."]
    return "\n".join(lines) + "\n"


def llm_rewrite(markdown: str, model: str | None = None) -> str:
    """Optionally rewrite the report's prose with an LLM through litellm.

    Off unless ``model`` (or the ``OVERFIT_FORECAST_LLM_MODEL`` environment variable) is set
    and litellm is installed; the provider's token comes from the environment as litellm
    expects. Any failure returns ``markdown`` unchanged (with a warning): the deterministic
    report is always complete on its own.
    """
    model = model or os.environ.get("OVERFIT_FORECAST_LLM_MODEL")
    if not model:
        return markdown
    try:
        import litellm

        resp = litellm.completion(model=model, timeout=60, messages=[
            {"role": "system", "content": "Rewrite this hyperparameter sweep report to read well. Keep "
             "every number, trial id, heading and recommendation; add nothing that is not in it."},
            {"role": "user", "content": markdown}])
        text = resp.choices[0].message.content
        return text if text and text.strip() else markdown
    except Exception as exc:  # network, auth, missing package: fall back
        warnings.warn(f"LLM rewrite failed ({type(exc).__name__}: {exc}); using the deterministic report")
        return markdown


def plot_issue_heatmap(patterns: pd.DataFrame, ax=None, max_rows: int = 40):
    """Heatmap of issue rate per (hyperparameter, bucket) row and issue column; significant
    risk-raising cells are marked with '*'."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    if patterns.empty:
        raise ValueError("no hyperparameter buckets to plot")
    pv = patterns.pivot_table(index=["hyperparameter", "bucket"], columns="issue", values="rate", sort=False)
    sig = patterns.assign(mark=np.where(patterns.significant & (patterns.risk_difference > 0), "*", "")) \
        .pivot_table(index=["hyperparameter", "bucket"], columns="issue", values="mark", aggfunc="first", sort=False)
    order = patterns.drop_duplicates(["hyperparameter", "bucket"])[["hyperparameter", "bucket"]]
    order = order.sort_values("hyperparameter", kind="stable")
    idx = pd.MultiIndex.from_frame(order).intersection(pv.index, sort=False)[:max_rows]
    pv, sig = pv.loc[idx], sig.reindex(index=idx, columns=pv.columns)
    annot = pv.map(lambda v: f"{v:.0%}") + sig.fillna("")
    if ax is None:
        _, ax = plt.subplots(figsize=(1.3 * pv.shape[1] + 3, 0.32 * len(pv) + 1.5))
    sns.heatmap(pv, annot=annot, fmt="", cmap="Reds", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "issue rate"},
                annot_kws={"size": 7})
    ax.set_yticklabels([f"{h} {b}" for h, b in pv.index], fontsize=7)
    ax.set_ylabel("")
    ax.set_title("issue rate per hyperparameter bucket (* = significant, BH q < 0.05)", fontsize=9)
    return ax


