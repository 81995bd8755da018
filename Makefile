# The pipeline's entry point (cookiecutter-data-science style).
#   make all    set up .venv if needed, run every notebook with the study's parameters, build the book
#   make test   unit tests, nbval over the notebooks, smoke pipeline + book build in a temp folder,
#               then the book built from book/ and every page checked in headless Chromium
#               (.ci/browser_check.py; screenshots in _build/screens)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STUDY := configs/study.yaml

.PHONY: all setup pipeline book test browser-check sweep benchmark clean-smoke

all: pipeline book

$(VENV)/.installed: pyproject.toml requirements-torch.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -r requirements-torch.txt
	$(BIN)/pip install -q -e ".[notebooks,readers,test]"
	touch $@

setup: $(VENV)/.installed

# Execute notebooks 01..90 into book/ (01 resumes the sweep: complete runs are skipped; a
# notebook whose inputs are unchanged since the last run is not re-run, see pipeline.py).
pipeline: setup
	$(BIN)/python -m overfit_forecast.pipeline -f $(STUDY) --out book --no-book

book: setup
	$(BIN)/jupyter-book build . -W -n --keep-going

# Only the sweep, in the background-friendly form (resumable).
sweep: setup
	$(BIN)/python -m overfit_forecast.sweep configs/sweep_mnist.yaml logs/mnist --workers 2

test: setup
	$(BIN)/python -m pytest tests -q
	$(BIN)/python -m pytest --nbval-lax notebooks/*.ipynb -q -p no:cacheprovider
	$(MAKE) browser-check

# The rendered book as a reader sees it: raw markdown tables, doubly numbered headings, broken
# images, sideways scrolling and shrunken figures fail; one screenshot per page in _build/screens.
browser-check: book
	$(BIN)/python .ci/browser_check.py _build/html --screens _build/screens --width 1280

benchmark: setup
	$(BIN)/python benchmarks/throughput.py

clean-smoke:
	rm -rf _build/smoke
