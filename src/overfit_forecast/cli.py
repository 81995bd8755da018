"""Command-line interface: ``overfit-forecast <command> ...``.

Commands
--------
sweep     run (or resume) a sweep from a space YAML file
pipeline  execute the study's notebooks with a parameters file and build the book
inspect   find the sick trials of a sweep table and write a report
diagnose  diagnose one training run from its logs (HF trainer_state.json, Lightning, Keras,
          TensorBoard, MLflow, our CSV)
predict   overfit forecast for one run from the start of its log (first k epochs or first 30 %)
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
    """Entry point of the ``overfit-forecast`` command; returns the exit code (2 on bad input)."""
    p = argparse.ArgumentParser(prog="overfit-forecast", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("sweep", help="run or resume a sweep (skips complete runs), locally or on Dask")
    s.add_argument("space", help="sweep space YAML (e.g. configs/sweep_mnist.yaml)")
    s.add_argument("log_dir", help="folder for per-run logs and sweep.csv")
    s.add_argument("--workers", type=int, default=2, help="local pool: worker processes (default 2)")
    where = s.add_mutually_exclusive_group()
    where.add_argument("--dask", default=None, metavar="local[:N]",
                       help="train on a dask.distributed LocalCluster of N workers (default 2)")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="train on the Dask cluster whose scheduler listens here")
    s.add_argument("--threads-per-worker", type=int, default=None,
                   help="torch threads per run (default: cores // workers)")
    s.add_argument("--data-root", default=None, help="folder holding MNIST/raw (where the runs train)")
    s.add_argument("--no-download", action="store_true", help="never download the dataset")
    s.add_argument("--quiet", action="store_true", help="no progress bar")

    pl = sub.add_parser("pipeline", help="execute the notebooks and build the book")
    pl.add_argument("-f", "--parameters", default="configs/study.yaml")
    pl.add_argument("--out", default="book")
    pl.add_argument("--no-book", action="store_true")

    ins = sub.add_parser("inspect", help="sweep pathology report from a sweep table (CSV)")
    ins.add_argument("sweep", help="sweep table (any separator): results/grid table, Optuna/MLflow/W&B export, "
                                   "or logs/<dataset>/sweep.csv")
    ins.add_argument("--format", default="auto", choices=["auto", "generic", "optuna", "mlflow", "wandb", "overfit_forecast"])
    ins.add_argument("--out", default="hparam_report.md", help="markdown report (default: hparam_report.md)")
    ins.add_argument("--json", default=None, help="also write the report as JSON here")
    ins.add_argument("--heatmap", default=None, help="also save the bucket x issue heatmap (PNG)")
    ins.add_argument("--column-map", nargs="*", default=[], metavar="OLD=NEW",
                     help="give a column a role or a name, e.g. id=trial_id state=status loss=train_loss "
                          "score=objective (roles: trial_id, status, train_loss, val_loss, train_acc, val_acc, "
                          "epochs, runtime_sec, objective)")
    ins.add_argument("--direction", default=None, choices=["minimize", "maximize"],
                     help="the objective's direction (default: from its name; unknown for Optuna's 'value')")
    ins.add_argument("--llm-model", default=None,
                     help="optional litellm model for a prose rewrite (default: $OVERFIT_FORECAST_LLM_MODEL; off)")

    for name, help_ in (("diagnose", "diagnose one training run from its logs"),
                        ("predict", "overfit forecast from the first k epochs of a run")):
        d = sub.add_parser(name, help=help_)
        d.add_argument("path", help="log file or folder (trainer_state.json, checkpoint folder, metrics.csv, "
                                    "Keras CSV/JSON, TensorBoard folder, MLflow run folder, logs/*.csv)")
        d.add_argument("--format", default="auto", help="force a reader (see overfit_forecast.readers.FORMATS)")
        d.add_argument("--run", type=int, default=None, help="for CSVs holding several appended runs: which one")
        d.add_argument("--column-map", nargs="*", default=[], metavar="OLD=NEW")
        d.add_argument("--json", default=None, help="write the result as JSON here")
        if name == "diagnose":
            d.add_argument("--plot", default=None, help="save curves with onset and best checkpoint (PNG)")
            d.add_argument("--out", default=None, help="write the markdown report here (default: print)")
            d.add_argument("--metric-for-best-model", default=None)
        else:
            d.add_argument("--model", default=None, help="skops forecaster Pipeline (default: data/meta/"
                           "forecaster_epochs_k10.skops where the log has per-epoch accuracies, else "
                           "data/meta/forecaster_fraction_f0.3.skops)")
            d.add_argument("-k", type=int, default=None, help="window of the default epoch model (default 10)")

    a = p.parse_args(argv)
    if a.command == "inspect":
        return _inspect(a)
    if a.command in ("diagnose", "predict"):
        return _run_log_command(a)
    if a.command == "sweep":
        from .sweep import command

        return command(a)
    elif a.command == "pipeline":
        from .pipeline import main as pipeline_main

        pipeline_main(["-f", a.parameters, "--out", a.out] + (["--no-book"] if a.no_book else []))
    return 0


def _run_log_command(a) -> int:
    """``diagnose`` and ``predict``: read the log, then run the command. Imports stay lazy so
    that ``diagnose`` loads neither torch, scikit-learn nor matplotlib (unless ``--plot``)."""
    from .readers import LogFormatError, read_curves

    try:
        mapping = dict(item.split("=", 1) for item in a.column_map) or None
    except ValueError:
        print(f"error: --column-map takes OLD=NEW pairs, got {a.column_map}", file=sys.stderr)
        return 2
    try:
        curves = read_curves(a.path, a.format, mapping, a.run)
        result = _diagnose(a, curves) if a.command == "diagnose" else _predict(a, curves)
    except (LogFormatError, ValueError) as exc:  # DiagnosisError, ForecastRefused are ValueErrors
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if a.json:
        from .runlog import write_json

        write_json(result, a.json)
    return 0


def _diagnose(a, curves) -> dict:
    from .diagnosis import diagnose, diagnosis_markdown
    from .runlog import atomic_write_text

    result = diagnose(curves, a.metric_for_best_model)
    text = diagnosis_markdown(result)
    if a.out:
        atomic_write_text(a.out, text)
    else:
        print(text)
    if a.plot:
        import matplotlib

        matplotlib.use("Agg")
        from .diagnosis import plot_diagnosis

        axes = plot_diagnosis(curves, result)
        axes[0].figure.savefig(a.plot, dpi=120, bbox_inches="tight")
    return result


def _predict(a, curves) -> dict:
    from .forecast import forecast  # imports scikit-learn: only for predict

    result = forecast(curves, a.model, a.k)
    print(f"overfit probability {result['probability']:.2f} ({result['window']}, {result['model']})")
    for drv in (result["drivers"] or [])[:5]:
        extra = f"contribution {drv['contribution']:+.2f}" if "contribution" in drv else \
            f"importance {drv['importance']:.2f}"
        print(f"  {drv['feature']:<18} = {drv['value']:.4g}  ({extra})")
    print(f"note: {result['caveat']}")
    return result


def _inspect(a) -> int:
    import warnings

    from .inspector import SweepInputError, inspect_sweep, plot_issue_heatmap, write_report_files

    try:
        mapping = dict(item.split("=", 1) for item in a.column_map)
    except ValueError:
        print(f"error: --column-map takes OLD=NEW pairs, got {a.column_map}", file=sys.stderr)
        return 2
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            report, _, flags, patterns = inspect_sweep(a.sweep, a.format, mapping or None, direction=a.direction)
        except SweepInputError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    for assumption in report["overview"].get("assumptions", []):
        print(f"note: {assumption}", file=sys.stderr)
    write_report_files(report, a.out, a.json, a.llm_model)
    if a.heatmap and len(patterns):
        import matplotlib

        matplotlib.use("Agg")
        ax = plot_issue_heatmap(patterns)
        ax.figure.savefig(a.heatmap, dpi=120, bbox_inches="tight")
    o = report["overview"]
    print(f"{o['trials']} trials, {o['issues']} issues in {o['trials_affected']} trials, "
          f"{len(report['patterns'])} significant patterns -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
