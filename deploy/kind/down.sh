#!/usr/bin/env bash
# `make kind-down`: delete the kind cluster and the local registry that `make kind-up` made.
set -euo pipefail
if command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx order-service; then
    kind delete cluster --name order-service
fi
if command -v docker >/dev/null && docker inspect kind-registry >/dev/null 2>&1; then
    docker rm -f kind-registry >/dev/null
fi
echo "kind cluster and registry removed"
