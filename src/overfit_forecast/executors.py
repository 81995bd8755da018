"""Where a sweep's runs train: a local process pool (the default) or a Dask cluster.

Both go through the same two functions, which run where the runs train:

- :func:`preflight` checks, before anything is trained, that the data can be found and
  the devices asked for exist (it raises the data module's :class:`DataNotFoundError` or
  :class:`~overfit_forecast.training.DeviceUnavailableError`);
- :func:`train_remote` trains one run in memory and returns its log text and result
  record; it writes nothing. The client (:func:`overfit_forecast.sweep.run_sweep`) writes
  them atomically into the log folder as they return, so workers need no shared file
  system and a killed worker or client never leaves a half-written run.

Executors: :class:`LocalPool` (``concurrent.futures.ProcessPoolExecutor``, spawned workers,
or this process for one worker) and :class:`DaskExecutor` (``dask.distributed``: a
``LocalCluster`` for ``local[:N]``, or a running scheduler's ``tcp://HOST:PORT``).
"""

from __future__ import annotations

import os
from concurrent.futures import CancelledError, ProcessPoolExecutor
from concurrent.futures import as_completed as _cf_as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from .runlog import RunConfig

#: Dask settings ``--dask local:N`` starts its cluster with (the client's own config is left
#: alone). Each is a periodic task of every Dask process that competes with training when the
#: workers fill every core: the statistical profiler samples the task thread every 10 ms
#: (``distributed.worker.profile``; on 2 cores it made runs train 7-13 % slower), the
#: event-loop health check runs every 20 ms (``distributed.admin.tick``), the memory monitor
#: every 100 ms and the system monitor (with disk I/O counters) every 500 ms. With all four
#: quietened, 20 one-second runs through a 2-worker LocalCluster took 8.0 % more wall time than
#: through the local pool instead of 13.5 % with the profiler alone off (medians of 6 rotated
#: rounds on 2 cores, faster in 5 of 6; ``benchmarks/dask_settings.py``). Costs: no
#: profile page on the dashboard (which local:N does not start), a blocked event loop or a
#: worker over its memory limit noticed within 1 s instead of 20 / 100 ms.
QUIET_WORKERS = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.admin.system-monitor.disk": False,
}

# --- worker side --------------------------------------------------------------------------
_SPLITS: dict = {}


class SweepDataError(RuntimeError):
    """The data of a run could not be loaded (raised where the run trains; stops the sweep)."""


def _die_with_parent() -> None:
    """Linux: ask the kernel to SIGTERM this worker when the sweep process dies, so a killed
    sweep leaves no orphan workers training runs nobody will collect."""
    try:
        import ctypes
        import signal

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _init_worker(threads: int | None, in_child: bool = True) -> None:
    import torch

    if in_child:
        _die_with_parent()
    if threads:
        torch.set_num_threads(threads)


def _tune_malloc() -> None:
    """Linux/glibc: keep freed memory for reuse instead of returning it at once.

    Dask starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``; any explicit trim threshold
    also turns off glibc's adaptive mmap threshold, so every torch temporary over 128 KiB is
    mmapped and unmapped again, and a run trained 1.7-2.5x slower in a Dask worker than in
    a plain process (measured with ``benchmarks/throughput.py``). ``mallopt`` with a 32 MiB
    mmap threshold and a 64 MiB trim threshold (glibc ``mallopt(3)``) restores the speed
    on any worker, however it was started.
    """
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 * 2**20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 * 2**20)  # M_TRIM_THRESHOLD
    except (OSError, AttributeError):
        pass


def _dask_threads() -> int:
    """torch threads for a task on a Dask worker: its machine's cores over its task slots."""
    try:
        from distributed import get_worker

        slots = get_worker().state.nthreads
    except (ImportError, ValueError, AttributeError):
        slots = 1
    return max(1, (os.cpu_count() or 1) // max(1, slots))


def _get_splits(cfg: RunConfig, data_root, download: bool):
    """The run's splits, loaded once per worker process and dataset/validation split."""
    from .data import DataNotFoundError, load_splits

    key = (str(data_root), cfg.dataset, cfg.val_size, cfg.split_seed)
    if key not in _SPLITS:
        try:
            _SPLITS[key] = load_splits(data_root, cfg.dataset, cfg.val_size, cfg.split_seed, download)
        except DataNotFoundError:
            raise
        except Exception as exc:  # a bad val_size, an unreadable file: the whole sweep is wrong
            raise SweepDataError(f"{cfg.dataset} (val_size={cfg.val_size}): {type(exc).__name__}: {exc}") from exc
    return _SPLITS[key]


def preflight(datasets: list[str], devices: list[str], data_root=None, download: bool = True) -> str:
    """Check, where the runs will train, that every dataset is found and every device exists.

    Returns a one-line description of where the data and devices are (for the log).

    Raises
    ------
    DataNotFoundError
        A dataset is not found (the message lists the folders searched and where to put it).
    DeviceUnavailableError
        A run asks for CUDA on a machine without it.
    """
    from .data import find_data_root
    from .training import resolve_device

    roots = {d: str(find_data_root(data_root, d, download=download)) for d in sorted(set(datasets))}
    devs = {d: str(resolve_device(d)) for d in sorted(set(devices))}
    return f"data {roots}, devices {devs}"


def train_remote(cfg_dict: dict, data_root=None, threads: int | None = None, download: bool = True) -> dict:
    """Train one run where this is called; return ``{"run_id", "result", "log"}``.

    ``result`` is the run's result record (see :func:`overfit_forecast.training.train_run`),
    ``log`` the CSV text of its per-epoch log (``None`` if not even epoch 0 was measured).
    Nothing is written to disk. ``threads`` sets torch's intra-op threads (on a Dask
    worker, default: the machine's cores over the worker's task slots).

    Raises
    ------
    DataNotFoundError, SweepDataError, DeviceUnavailableError
        Problems found before training; the sweep stops on them.
    """
    import torch

    from .training import log_text, resolve_device, set_deterministic, train_run

    cfg = RunConfig(**cfg_dict)
    _tune_malloc()
    torch.set_num_threads(threads or (_dask_threads() if _on_dask_worker() else torch.get_num_threads()))
    device = resolve_device(cfg.device)
    set_deterministic(device)  # before the first CUDA call of this process
    splits = _get_splits(cfg, data_root, download)
    cache_key = ("device", str(data_root), cfg.dataset, cfg.val_size, cfg.split_seed, str(device))
    if cache_key not in _SPLITS:  # one copy of the data on the device per worker
        _SPLITS[cache_key] = splits.to(device)
    result, rows = train_run(cfg, _SPLITS[cache_key])
    return {"run_id": cfg.run_id, "result": result, "log": log_text(rows) if rows else None}


def _on_dask_worker() -> bool:
    try:
        from distributed import get_worker

        get_worker()
        return True
    except (ImportError, ValueError):
        return False


# --- client side --------------------------------------------------------------------------
#: Exceptions of the executor itself (the worker died, the pool broke, the task was
#: cancelled): the run is not written and trains again when the sweep is re-run.
LOST = (BrokenProcessPool, CancelledError)


class LocalPool:
    """Runs on this machine: ``workers`` spawned processes (1: in this process).

    Each worker uses ``threads`` torch threads (default ``max(1, cpu_count // workers)``)
    and is SIGTERMed by the kernel if the sweep process dies (Linux).
    """

    name = "local process pool"

    def __init__(self, workers: int = 2, threads: int | None = None):
        self.workers = max(1, int(workers))
        self.threads = threads or max(1, (os.cpu_count() or 1) // self.workers)
        self._pool = None

    def __enter__(self):
        if self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                             initializer=_init_worker, initargs=(self.threads,))
        else:
            _init_worker(self.threads, in_child=False)
        return self

    def __exit__(self, *exc):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        return False

    def call(self, fn, *args):
        """Run ``fn(*args)`` where the runs train (here: this machine) and return its value."""
        return fn(*args)

    def submit_runs(self, cfg_dicts: list[dict], data_root, download: bool):
        """Submit every run; returns the futures (in-process: deferred calls run by
        :meth:`as_completed`)."""
        args = [(d, data_root, self.threads, download) for d in cfg_dicts]
        if self._pool is None:
            return [_Deferred(train_remote, a) for a in args]
        return [self._pool.submit(train_remote, *a) for a in args]

    def as_completed(self, futures):
        """Yield futures as they finish (in-process: run each in turn)."""
        if self._pool is None:
            for f in futures:
                if not f.cancelled():
                    f.run()
                    yield f
            return
        yield from _cf_as_completed(futures)

    def cancel(self, futures) -> None:
        """Cancel the futures that have not started."""
        for f in futures:
            f.cancel()


class _Deferred:
    """A call run later in this process, with the ``Future`` methods the sweep uses."""

    def __init__(self, fn, args):
        self._fn, self._args, self._cancelled = fn, args, False
        self._value = self._exc = None

    def run(self) -> None:
        try:
            self._value = self._fn(*self._args)
        except Exception as exc:  # re-raised by result(), as from a pool
            self._exc = exc

    def result(self):
        if self._exc is not None:
            raise self._exc
        return self._value

    def cancel(self) -> bool:
        self._cancelled = True
        return True

    def cancelled(self) -> bool:
        return self._cancelled


class DaskExecutor:
    """Runs on a Dask cluster through ``dask.distributed``.

    Parameters
    ----------
    address : str or distributed.Client
        ``"local"`` / ``"local:N"``: a ``distributed.LocalCluster`` of N worker processes
        (default 2), one task slot each, started and closed here; ``"tcp://HOST:PORT"``
        (any scheduler address): connect to a running scheduler (e.g. one started by
        ``dask-jobqueue`` on SLURM/PBS or by the Dask Kubernetes operator); or a connected
        ``Client``, used as is.
    threads : int, optional
        torch threads per run. Default for ``local:N``: ``max(1, cpu_count // N)`` (as the
        local pool); for a remote scheduler: each worker's cores over its task slots.

    Tasks are keyed ``train-<run_id>``, so submitting a run twice to one scheduler trains
    it once. A worker that dies mid-run has its run re-scheduled by the scheduler (up to
    ``distributed.scheduler.allowed-failures`` times, then ``KilledWorker``).
    """

    name = "dask"

    def __init__(self, address, threads: int | None = None):
        self.address, self.threads = address, threads
        self.client = self._cluster = None

    def __enter__(self):
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:
            raise ImportError("Dask sweeps need dask.distributed: pip install 'overfit-forecast[cluster]'") from exc
        if not isinstance(self.address, str):
            self.client = self.address
        elif self.address == "local" or self.address.startswith("local:"):
            n = int(self.address.split(":", 1)[1]) if ":" in self.address else 2
            if n < 1:
                raise ValueError(f"--dask local:N needs N >= 1, got {self.address!r}")
            self.threads = self.threads or max(1, (os.cpu_count() or 1) // n)
            import dask

            with dask.config.set(QUIET_WORKERS):
                self._cluster = LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                             dashboard_address=None)
            self.client = Client(self._cluster)
        else:
            self.client = Client(self.address)
        self.name = f"dask ({self.client.scheduler.address})"
        return self

    def __exit__(self, *exc):
        if self._cluster is not None:
            self.client.close()
            self._cluster.close()
        elif isinstance(self.address, str) and self.client is not None:
            self.client.close()
        return False

    def call(self, fn, *args):
        """Run ``fn(*args)`` on one worker of the cluster and return its value."""
        return self.client.submit(fn, *args, pure=False).result()

    def submit_runs(self, cfg_dicts: list[dict], data_root, download: bool):
        """Submit every run as a task keyed ``train-<run_id>``; returns the futures."""
        return [self.client.submit(train_remote, d, data_root, self.threads, download,
                                   key=f"train-{RunConfig(**d).run_id}", pure=False)
                for d in cfg_dicts]

    def as_completed(self, futures):
        """Yield futures as they finish (``distributed.as_completed``)."""
        from distributed import as_completed

        yield from as_completed(futures)

    def cancel(self, futures) -> None:
        """Cancel the futures still pending on the cluster."""
        self.client.cancel(futures)


def lost_types() -> tuple:
    """Executor exceptions that mean "not finished, train again on the next run"."""
    types = list(LOST)
    try:
        from distributed.comm.core import CommClosedError

        types.append(CommClosedError)
    except ImportError:
        pass
    return tuple(types)


def make_executor(workers: int = 2, dask: str | None = None, threads: int | None = None):
    """The executor named on the command line: ``dask`` (``local[:N]`` or a scheduler
    address, or a ``distributed.Client``) if given, else a :class:`LocalPool` of ``workers``."""
    if dask is None:
        return LocalPool(workers, threads)
    return DaskExecutor(dask, threads)
