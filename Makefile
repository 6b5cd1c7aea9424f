# The two commands a new user runs: `make demo` and `make test`.
# Each installs what it needs itself (pip into .venv; apt-get for PHP and Chromium).
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
PYPATHS := sync tests $(wildcard bench)
MARIADB_URL ?= mysql+pymysql://root@127.0.0.1:3306/test?charset=utf8mb4

.PHONY: demo test venv lint types pytest php plugin alembic-check clean bench system-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/pingyi demo

lint: $(STAMP)
	$(BIN)/ruff check $(PYPATHS)
	$(BIN)/ruff format --check $(PYPATHS)

types: $(STAMP)
	$(BIN)/mypy $(PYPATHS)

pytest: $(STAMP)
	PINGYI_TEST_POSTGRES_URL='$(PG_URL)' PINGYI_TEST_MARIADB_URL='$(MARIADB_URL)' \
	  $(BIN)/pytest -q

alembic-check: $(STAMP)
	$(BIN)/python -m sync.migrations.check

# Debian packages the tests need, installed only when missing: PHP and PHPUnit for the
# plugin, Chromium and a CJK font for the HTML report's rendering test.
APT_NEEDS := php-cli php-xml php-mbstring php-curl php-json-schema phpunit zip chromium fonts-noto-cjk
system-deps:
	@missing=$$(for p in $(APT_NEEDS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

php: system-deps
	@for f in $$(find plugin -name '*.php'); do php -l "$$f" >/dev/null || exit 1; done
	@if [ -f plugin/phpunit.xml ]; then cd plugin && phpunit --colors=never; else echo "no plugin tests yet"; fi

plugin:
	@command -v zip >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq zip >/dev/null; }
	rm -f Pingyi.zip
	cd plugin && zip -qr ../Pingyi.zip Pingyi -x '*/tests/*'
	@echo "built Pingyi.zip"

test: lint types alembic-check php pytest

pytest: system-deps

# figures in bench/README.md; needs PostgreSQL on 127.0.0.1:5432 (BENCH_PG='' skips it)
BENCH_PG ?= postgresql+psycopg://postgres@127.0.0.1:5432/test
bench: $(STAMP)
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench --pg '$(BENCH_PG)' --json bench/last-run.json

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache pingyi.db
