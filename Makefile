VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-heavy venv clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(VENV)/bin/quantdesk up

test: $(STAMP)
	$(VENV)/bin/pytest -q -m "not heavy"

test-heavy: $(STAMP)
	$(VENV)/bin/pytest -q -m heavy

clean:
	rm -rf $(VENV) .quantdesk
