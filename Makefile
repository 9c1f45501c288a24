VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-heavy venv clean promtool web chromium compiled

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# grafana-client's niquests needs urllib3-future, whose wheel overwrites urllib3 at every start (schemathesis
	# then breaks): built from source with URLLIB3_NO_OVERRIDE it keeps to its own name
	URLLIB3_NO_OVERRIDE=1 $(PY) -m pip install -q --no-binary urllib3-future -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# the risk engine's compiled passes (numba) and the account states' record writer, cached beside their sources:
# compiled here once (about a quarter of a minute on 2 cores), not by the first worker a test or `quantdesk up`
# starts; a second or so once cached. numba checks a cached pass against its own file only, not against the helpers
# compiled into it from other files, so a change to any of these files clears every cached pass first.
COMPILED_SOURCES := $(shell grep -rl --include='*.py' -e 'from quantdesk.compiled import' -e 'from numba import' \
	quantdesk streams)
COMPILED_STAMP := $(VENV)/.compiled

$(COMPILED_STAMP): $(STAMP) $(COMPILED_SOURCES)
	find quantdesk streams -path '*/__pycache__/*' \( -name '*.nbi' -o -name '*.nbc' \) -delete
	$(PY) -c 'from quantdesk.markets import DEFAULT_MARKETS; from streams.risk.engine import RiskEngine; RiskEngine(DEFAULT_MARKETS)'
	$(PY) -c 'from quantdesk.kafka.records import warm; warm()'
	touch $@

compiled: $(COMPILED_STAMP)

run: $(STAMP) web compiled
	$(VENV)/bin/quantdesk up

# The terminal page: npm installs web/'s locked packages, Vite builds it into the Python package (api/www), which the
# gateway serves at /
WEB_SOURCES := web/index.html web/vite.config.js $(wildcard web/src/*)

web/node_modules/.installed: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
	touch $@

api/www/index.html: web/node_modules/.installed $(WEB_SOURCES)
	cd web && npm run --silent build

web: api/www/index.html

# Debian's chromium: the browser tests drive it with Playwright (no browser download is possible here)
chromium:
	@command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null)

# Debian's prometheus package: promtool checks and unit-tests the alert rules, prometheus scrapes the running
# platform in a test (we run as root)
promtool:
	@command -v promtool >/dev/null && command -v prometheus >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends prometheus >/dev/null)

# two test processes (pytest-xdist), each with its own broker and chDB: most tests wait on Kafka, a worker or a
# browser, so the suite takes ~12 min instead of ~20 on 2 cores; the crash runs stay in one process
test: $(STAMP) promtool chromium web compiled
	$(VENV)/bin/pytest -q -m "not heavy" -n 2 --durations=25

test-heavy: $(STAMP) promtool compiled
	$(VENV)/bin/pytest -q -m heavy --durations=0

clean:
	rm -rf $(VENV) .quantdesk web/node_modules api/www
