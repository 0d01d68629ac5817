# Order Service: the few things a user wants to do. See README.md.
SHELL := /bin/bash
UV ?= uv
export PATH := $(HOME)/.local/bin:$(PATH)

.PHONY: up down status demo test lint bench prerequisites

up: prerequisites ## start PostgreSQL, Redis, Kafka, the ingestor and two query replicas; Ctrl-C stops
	$(UV) run --frozen python -m devstack up

down: ## stop everything `make up` started
	$(UV) run --frozen python -m devstack down

status: ## what `make up` is running
	$(UV) run --frozen python -m devstack status

demo: ## publish N generated orders (default 50) at RATE per second (default: as fast as possible)
	$(UV) run --frozen order-producer --generate $${N:-50} $${RATE:+--rate $$RATE}

test: prerequisites ## the whole suite; starts its own servers on free ports
	$(UV) run --frozen pytest

lint:
	$(UV) run --frozen ruff check .

prerequisites:
	@bash scripts/install-prerequisites.sh
