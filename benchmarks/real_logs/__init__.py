"""Helpers of ``benchmarks/real_logs.py`` (the real-log benchmark of issue 8).

- :mod:`real_logs.corpus`  -- the public logs (``INDEX.csv``), run lengths, the peers' venv;
- :mod:`real_logs.tools`   -- how each tool is called and how its output maps to the
  pathologies of ``PROTOCOL.md`` (one dict per tool: edit there);
- :mod:`real_logs.runner`  -- one fresh process per tool and file, timed, cached;
- :mod:`real_logs.scoring` -- ``labels.csv`` validation and the metrics per tool and pathology.

``benchmarks/real_logs.py`` puts ``benchmarks/`` on ``sys.path``, so this folder is
imported as the package ``real_logs`` (a package wins over the same-named script).
"""
