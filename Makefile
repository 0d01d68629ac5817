# Order Service: the few things a user wants to do. See README.md and `make docs`.
SHELL := /bin/bash
# The pinned uv (versions.env) that scripts/install-prerequisites.sh puts here, first on
# PATH so that whatever runs `uv` gets it, not another uv the machine may have.
export PATH := $(CURDIR)/.state/tools/bin:$(PATH)
UV := $(CURDIR)/.state/tools/bin/uv

.PHONY: up down status demo test soak lint bench docs prerequisites

up: ## start PostgreSQL, Redis, Kafka, Jaeger, the ingestor, two query replicas and the courier service; Ctrl-C stops. CLUSTER=1: three Kafka brokers, a PostgreSQL primary and its standby
	@began=$$(date +%s.%N) && bash scripts/install-prerequisites.sh && \
		MAKE_UP_BEGAN=$$began $(UV) run --frozen python -m devstack up $(if $(CLUSTER),--cluster)

down: ## stop everything `make up` started
	$(UV) run --frozen python -m devstack down

status: ## what `make up` is running
	$(UV) run --frozen python -m devstack status

demo: ## publish N generated orders (default 50) at RATE per second (default: as fast as possible); CLUSTER=1: to the cluster's three brokers
	$(UV) run --frozen order-producer --generate $${N:-50} $${RATE:+--rate $$RATE} \
		$(if $(CLUSTER),--bootstrap-servers $$($(UV) run --frozen python -c 'from devstack.servers import ServerPorts; print(ServerPorts.cluster().kafka_bootstrap)'))

test: prerequisites ## the whole suite; starts its own servers on free ports
	$(UV) run --frozen pytest

soak: ## the long fault tests: the single-node and courier bounce tests, the cluster's switchover and partition tests, and the cluster bounce test: 1,000 orders/s for 5 minutes through 22 faults (brokers killed and cut off, a PostgreSQL switchover...), Jepsen-style checks; about 6 minutes; as root (partitions need iptables)
	@bash scripts/install-prerequisites.sh soak
	ORDER_SOAK=1 $(UV) run --frozen pytest tests/soak tests/cluster -s -q -p no:cacheprovider

lint: ## ruff over everything
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .

bench: ## the ingest, query, query shape (workers or replicas), courier, command, invalid-body, freshness, tracing and live-stream benchmarks (wrk drives the HTTP load); print their figures
	@bash scripts/install-prerequisites.sh bench
	$(UV) run --frozen python -m bench

docs: prerequisites ## build the documentation site from docs/ with every warning an error, and serve it on http://127.0.0.1:8008 (DOCS_PORT)
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs build --strict
	NO_MKDOCS_2_WARNING=1 $(UV) run --frozen mkdocs serve --strict --dev-addr 127.0.0.1:$${DOCS_PORT:-8008}

prerequisites:
	@bash scripts/install-prerequisites.sh

.PHONY: screenshot
screenshot: prerequisites ## docs/screenshot.png: the page showing an order, in headless Chromium on the real stack
	@bash scripts/install-browser.sh
	ORDER_PAGE_SCREENSHOT=docs/screenshot.png $(UV) run --frozen pytest tests/browser -k screenshot -p no:cacheprovider -q

# --- Deploying: Docker Compose, Helm and Tilt (docs/deploying) ----------------------------------

.PHONY: images kind-up kind-down kind-images tilt-up deploy-check

images: prerequisites ## the five images from the Dockerfile, tagged as Compose and the chart name them; starts a Docker engine and makes local base images where none can be pulled
	bash scripts/images.sh

kind-up: ## kind cluster "order-service" with a local registry and an ingress on http://localhost:8000
	bash deploy/kind/up.sh

kind-images: ## build the five images and load them into the kind cluster (MODE=push: to its registry)
	bash deploy/kind/images.sh $${MODE:-load}

kind-down: ## delete the kind cluster and its registry
	bash deploy/kind/down.sh

tilt-up: ## build, deploy and live-update everything on the kind cluster (Ctrl-C leaves it running)
	tilt up --context kind-order-service

deploy-check: ## validate deploy/ offline: Helm lint and render, Kubernetes schemas, policy, Compose, Tiltfile, Dockerfiles
	bash scripts/install-deploy-tools.sh
	$(UV) run --frozen pytest tests/deploy
