# The two commands: `make book` builds the site, `make test` runs every test.
# Both create .venv on first use and install requirements.txt, within the pinned build stack
# (constraints/build.txt), plus the library (editable). `make colab-test` runs the book on Colab's stack.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: book test replicate colab-test clean

$(STAMP): requirements.txt constraints/build.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt -c constraints/build.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $(STAMP)

# The notebooks' install cell and the launch buttons are stamped with the library's version first; then every
# notebook is executed (at the `default` scale unless SKIPLESSONS_SCALE says otherwise); a failing cell or a
# broken reference fails the build.
book: $(STAMP)
	$(BIN)/python scripts/stamp_version.py
	SKIPLESSONS_SCALE=$${SKIPLESSONS_SCALE:-default} PATH=$(CURDIR)/$(BIN):$$PATH \
		$(BIN)/jupyter-book build . --all -W --keep-going

# Library tests, then every notebook at the `smoke` scale (set by conftest.py), two notebooks at a time.
test: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest tests/
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pytest -n 2 --nbmake book/

# Colab's stack (constraints/colab.txt, Python 3.13, in .venv-colab): the wheel installed as the first cell
# installs it, no Colab package changed, every notebook at `smoke` from an empty folder and home.
# COLAB_PYTHON=/path/to/python3.13 picks the interpreter.
colab-test: $(STAMP)
	$(BIN)/python -m scripts.colab_check $(if $(COLAB_PYTHON),--python $(COLAB_PYTHON))

# Every replicated claim's experiment again at `default` on fresh seeds (the ledger's second verdict column);
# run it before `make book` to fill that column.
replicate: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m skiplessons replicate

clean:
	rm -rf _build
