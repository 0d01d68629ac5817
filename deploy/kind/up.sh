#!/usr/bin/env bash
# `make kind-up`: a kind cluster named order-service with a local image registry and an
# ingress controller, ready for `make tilt-up`. Idempotent: what exists is kept.
#
#   registry   a `registry` container on 127.0.0.1:5001, joined to the kind network and
#              announced in the cluster (ConfigMap kube-public/local-registry-hosting), so
#              Tilt pushes there and the node pulls from it
#   ingress    Traefik from its Helm chart, as the default IngressClass `traefik`, on
#              NodePort 30080, which cluster.yaml maps to http://localhost:8000
#
# Needs a running Docker engine, kind, kubectl and helm.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cluster=order-service
registry_name=kind-registry
registry_port=${REGISTRY_PORT:-5001}
registry_image=${REGISTRY_IMAGE:-registry:2.8.3}
traefik_chart_version=${TRAEFIK_CHART_VERSION:-37.0.0}

for command in docker kind kubectl helm; do
    if ! command -v "$command" >/dev/null; then
        echo "kind-up: $command is not installed (see docs/deploying/tilt.md)" >&2
        exit 1
    fi
done
if ! docker info >/dev/null 2>&1; then
    echo "kind-up: no Docker engine answers (is the daemon running?)" >&2
    exit 1
fi

# 1. The local registry.
if [[ "$(docker inspect -f '{{.State.Running}}' "$registry_name" 2>/dev/null || true)" != true ]]; then
    docker rm -f "$registry_name" >/dev/null 2>&1 || true
    docker run -d --restart=always --name "$registry_name" \
        -p "127.0.0.1:${registry_port}:5000" --network bridge "$registry_image"
fi

# 2. The cluster.
if ! kind get clusters | grep -qx "$cluster"; then
    kind create cluster --config "$here/cluster.yaml" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"}
fi
kubectl config use-context "kind-$cluster" >/dev/null

# 3. Nodes resolve localhost:<port> to the registry container.
for node in $(kind get nodes --name "$cluster"); do
    docker exec "$node" mkdir -p "/etc/containerd/certs.d/localhost:${registry_port}"
    printf '[host."http://%s:5000"]\n' "$registry_name" |
        docker exec -i "$node" cp /dev/stdin "/etc/containerd/certs.d/localhost:${registry_port}/hosts.toml"
done
if [[ "$(docker inspect -f '{{json .NetworkSettings.Networks.kind}}' "$registry_name")" == null ]]; then
    docker network connect kind "$registry_name"
fi

# 4. Tell Tilt (and anyone else) where to push: KEP-1755's local-registry-hosting.
kubectl apply -f - <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: local-registry-hosting
  namespace: kube-public
data:
  localRegistryHosting.v1: |
    host: "localhost:${registry_port}"
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/"
YAML

# 5. The ingress controller.
helm upgrade --install traefik traefik \
    --repo https://traefik.github.io/charts --version "$traefik_chart_version" \
    --namespace traefik --create-namespace \
    --set service.type=NodePort \
    --set ports.web.nodePort=30080 \
    --set ports.websecure.nodePort=30443 \
    --set ingressClass.enabled=true \
    --set ingressClass.isDefaultClass=true \
    --set-string nodeSelector.ingress-ready=true \
    --wait --timeout 5m

echo "kind cluster '$cluster' is ready: registry localhost:${registry_port}, ingress http://localhost:8000"
echo "next: make tilt-up"
