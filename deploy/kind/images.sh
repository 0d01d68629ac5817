#!/usr/bin/env bash
# `make kind-images`: build our five images and hand them to the kind cluster, for a plain
# `helm install` without Tilt (Tilt builds and pushes them itself).
#
#   bash deploy/kind/images.sh load   # `kind load docker-image` into the cluster's node
#   bash deploy/kind/images.sh push   # push to the local registry on localhost:5001, then
#                                     # install with --set image.registry=localhost:5001
#
# The tag is the chart's appVersion, which the chart uses when image.tag is empty.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
mode="${1:-load}"
cluster=order-service
registry="localhost:${REGISTRY_PORT:-5001}"
tag="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$repo/deploy/helm/Chart.yaml")"
# `make images` builds the five (tagged dev and appVersion), then each goes to the cluster.
targets=(migrations ingestor query courier producer)
IMAGES="${targets[*]}" bash "$repo/scripts/images.sh"
for target in "${targets[@]}"; do
    image="order-$target:$tag"
    case "$mode" in
        load) kind load docker-image "$image" --name "$cluster" ;;
        push)
            docker tag "$image" "$registry/$image"
            docker push "$registry/$image"
            ;;
        *) echo "usage: $0 load|push" >&2; exit 2 ;;
    esac
done
