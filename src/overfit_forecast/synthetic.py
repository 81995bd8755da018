"""Synthetic training logs with known answers, for tests, examples and the book.

:func:`trainer_state` writes a Hugging Face ``trainer_state.json``-style dict whose
validation loss has its minimum at a chosen step (the overfitting onset) while training
loss keeps falling, and whose accuracy can keep improving (over-confidence) or not.
"""

from __future__ import annotations

import numpy as np


def trainer_state(steps: int = 1000, eval_every: int = 100, log_every: int = 10, onset_step: int = 400,
                  steps_per_epoch: int = 250, accuracy_keeps_improving: bool = False, batch_size: int = 32,
                  save_every: int | None = None, seed: int = 0) -> dict:
    """A trainer_state.json dict with validation loss lowest at ``onset_step``.

    Training loss: ``2.3 * exp(-step / 300) + 0.05`` (falls throughout). Validation loss:
    ``0.5 + 0.3 * ((step - onset) / steps) ** 2`` around its minimum at ``onset_step``
    (rises after it). Validation accuracy peaks at ``onset_step`` unless
    ``accuracy_keeps_improving``. ``best_metric``/``best_model_checkpoint`` follow
    ``eval_loss`` among saved checkpoints (every ``save_every`` steps, default
    ``eval_every``).
    """
    rng = np.random.default_rng(seed)
    save_every = save_every or eval_every
    log = []
    best = (np.inf, None)
    for s in range(log_every, steps + 1, log_every):
        ep = round(s / steps_per_epoch, 4)
        log.append({"epoch": ep, "grad_norm": 1.0, "learning_rate": 5e-5, "loss": round(2.3 * np.exp(-s / 300) + 0.05 + rng.normal(0, 0.002), 5), "step": s})
        if s % eval_every == 0:
            vl = 0.5 + 0.3 * ((s - onset_step) / steps) ** 2 + (0.6 * max(0, 1 - s / onset_step) ** 2)
            acc = 0.9 - 0.2 * max(0, 1 - s / onset_step) ** 2
            if s > onset_step:
                acc += 0.02 * (s - onset_step) / steps if accuracy_keeps_improving else -0.05 * (s - onset_step) / steps
            log.append({"epoch": ep, "eval_accuracy": round(acc, 5), "eval_loss": round(vl, 5), "eval_runtime": 1.0,
                        "eval_samples_per_second": 100.0, "eval_steps_per_second": 3.0, "step": s})
            if s % save_every == 0 and vl < best[0]:
                best = (round(vl, 5), f"out/checkpoint-{s}")
    log.append({"epoch": round(steps / steps_per_epoch, 4), "step": steps, "total_flos": 1.0, "train_loss": 0.3,
                "train_runtime": 100.0, "train_samples_per_second": 10.0, "train_steps_per_second": 10.0})
    return {"best_metric": best[0], "best_model_checkpoint": best[1], "epoch": round(steps / steps_per_epoch, 4),
            "eval_steps": eval_every, "global_step": steps, "is_hyper_param_search": False,
            "is_local_process_zero": True, "is_world_process_zero": True, "log_history": log,
            "logging_steps": log_every, "max_steps": steps, "num_train_epochs": int(np.ceil(steps / steps_per_epoch)),
            "save_steps": save_every, "train_batch_size": batch_size, "trial_name": None, "trial_params": None}
