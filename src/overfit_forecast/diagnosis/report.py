"""Render a :func:`~overfit_forecast.diagnosis.diagnose` result: a markdown report and a plot of
the curves with the overfitting onset and the best checkpoint marked (matplotlib is imported
only by :func:`plot_diagnosis`)."""

from __future__ import annotations

from ..readers import Curves

_ORDER = {"error": 0, "warning": 1, "info": 2}


def _x(x) -> str:
    return "n/a" if x is None else f"{x:g}"


def diagnosis_markdown(d: dict) -> str:
    """Human-readable report of a diagnosis dict: verdicts, findings by severity (message,
    recommendation), best checkpoint, early-stopping replay."""
    r, v, b = d["run"], d["verdicts"], d["best_checkpoint"]
    over = {True: "yes", False: "no", None: "cannot be judged"}[v["overfitting"]]
    lines = ["# Training run diagnosis", "",
             f"- Source: `{r['source']}` ({r['format']}), x-axis: {r['x_axis']}, {r['evaluations']} evaluations.",
             f"- Status: **{v['status']}**; overfitting: **{over}**"
             + (f" (onset at {r['x_axis']} {_x(v['onset_step'])})" if v["onset_step"] is not None else "") + ".",
             f"- Best checkpoint: {r['x_axis']} {_x(b.get('x'))} by {b.get('metric')} ({b.get('chosen_by')})"
             + (f"; from {r['x_axis']} {_x(b['earliest_within_noise_x'])} on, checkpoints are equal to it within "
                f"the evaluation noise ({b['noise']:.3g})" if b.get("earliest_within_noise_x") is not None
                and b["earliest_within_noise_x"] != b["x"] else "") + ".", "", "## Findings", ""]
    findings = sorted(d["findings"], key=lambda f: _ORDER.get(f["severity"], 3))
    if not findings:
        lines.append("- Nothing to report.")
    for f in findings:
        lines.append(f"- **{f['severity']}** `{f['id']}`: {f['message']}")
        if f["recommendation"]:
            lines.append(f"  - What to do: {f['recommendation']}")
    if d["early_stopping"]:
        lines += ["", f"## Early stopping replay (on {b.get('metric')})", "",
                  "| patience | stops at | checkpoint kept | compute saved |", "|---|---|---|---|"]
        for e in d["early_stopping"]:
            lines.append(f"| {e['patience']} | {_x(e['stop_x'])} | {_x(e['kept_x'])} | {e['fraction_saved']:.0%} |")
    return "\n".join(lines) + "\n"


def plot_diagnosis(curves: Curves, d: dict, axes=None):
    """Loss curves (and the task metric, on a second panel) with the overfitting onset and the
    best checkpoint marked. Returns the axes."""
    import matplotlib.pyplot as plt

    by, v = d["run"]["x_axis"], d["verdicts"]
    task = next((m for m in (d["best_checkpoint"].get("metric"),) if m and m != "loss"
                 and m in curves.metrics("val")), None)
    if axes is None:
        _, axes = plt.subplots(1, 2 if task else 1, figsize=(7.5 if task else 5, 3.2), squeeze=False)
        axes = axes[0]
    for split in ("train", "val"):
        if "loss" in curves.metrics(split):
            s = curves.series(split, "loss", by)
            axes[0].plot(s.x, s.value, label=f"{split} loss", marker="." if split == "val" else None)
    axes[0].set(xlabel=by, ylabel="loss")
    if task and len(axes) > 1:
        for split in ("train", "val"):
            if task in curves.metrics(split):
                s = curves.series(split, task, by)
                axes[1].plot(s.x, s.value, label=f"{split} {task}", marker="." if split == "val" else None)
        axes[1].set(xlabel=by, ylabel=task)
    for a in axes:
        if v["onset_step"] is not None:
            a.axvline(v["onset_step"], c="tab:red", ls="--", lw=1, label="overfitting onset")
        if v["best_step"] is not None:
            a.axvline(v["best_step"], c="tab:green", ls=":", lw=1.5, label=f"best ({v['best_metric']})")
        a.legend(fontsize=7)
    axes[0].set_title(v["status"], fontsize=9, loc="left")
    return axes
