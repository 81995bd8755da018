"""overfit-forecast: will this training run overfit, told from its first epochs?

One module per pipeline stage:

- :mod:`overfit_forecast.data` -- finding and loading MNIST as in-memory tensors
- :mod:`overfit_forecast.model` -- the small CNN
- :mod:`overfit_forecast.training` -- one run: config, ``train_one_epoch``, ``evaluate``, logging
- :mod:`overfit_forecast.sweep` -- the sweep space, sampling, parallel resumable execution
- :mod:`overfit_forecast.labels` -- deterministic overfitting / pathology labels
- :mod:`overfit_forecast.features` -- features from the first k epochs
- :mod:`overfit_forecast.evaluation` -- meta-models, baselines, leave-one-group-out evaluation
- :mod:`overfit_forecast.plots` -- figures used by the book
"""

__version__ = "0.1.0"
