#!/usr/bin/env bash
# Installs the tools that validate deploy/ offline (tests/deploy), skipping what is present:
#
#   helm      Helm v3, built from source with the Go toolchain, with the same version
#             ldflags as Helm's own release build (so `helm version` and the default
#             Kubernetes version are right). About 2 minutes on 2 cores the first time.
#   starlark  go.starlark.net's interpreter, the Starlark implementation Tilt embeds; the
#             tests execute the Tiltfile with it. A few seconds.
#   compose-spec.json
#             the Compose specification's schema as shipped in compose-go, the library
#             Docker Compose loads files with (a Go module download, no build).
#
# hadolint and kubernetes-validate are Python dev dependencies (uv.lock), not installed here.
# Everything goes to .state/tools (git-ignored); pass a folder to install elsewhere.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# The pins: HELM_VERSION, HELM_KUBE_MINOR (client-go's minor in Helm's go.mod),
# STARLARK_VERSION, COMPOSE_GO_VERSION.
# shellcheck source=../versions.env
source "$repo/versions.env"
tools=${1:-$repo/.state/tools}
mkdir -p "$tools/bin"
tools=$(cd "$tools" && pwd)

if ! command -v go >/dev/null; then
    echo "install-deploy-tools: Go is needed to build Helm and Starlark" >&2
    exit 1
fi
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

installed_version() { [[ -f "$tools/$1.version" ]] && cat "$tools/$1.version"; }

if [[ -x "$tools/bin/helm" && "$(installed_version helm)" == "$HELM_VERSION" ]]; then
    echo "helm $HELM_VERSION: present"
else
    echo "helm $HELM_VERSION: building (first time: about 2 minutes)"
    started=$SECONDS
    GOBIN="$tools/bin" go install -ldflags "-s -w \
        -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION \
        -X helm.sh/helm/v3/internal/version.gitTreeState=clean \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=$HELM_KUBE_MINOR \
        -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 \
        -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=$HELM_KUBE_MINOR" \
        "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
    echo "$HELM_VERSION" >"$tools/helm.version"
    echo "helm $HELM_VERSION: built in $((SECONDS - started)) s"
fi

if [[ -x "$tools/bin/starlark" && "$(installed_version starlark)" == "$STARLARK_VERSION" ]]; then
    echo "starlark: present"
else
    echo "starlark $STARLARK_VERSION: building"
    GOBIN="$tools/bin" go install "go.starlark.net/cmd/starlark@$STARLARK_VERSION"
    echo "$STARLARK_VERSION" >"$tools/starlark.version"
fi

schema="$tools/compose-spec.json"
if [[ -s "$schema" && "$(installed_version compose-spec)" == "$COMPOSE_GO_VERSION" ]]; then
    echo "compose-spec.json: present"
else
    echo "compose-spec.json from compose-go $COMPOSE_GO_VERSION: downloading"
    module_dir=$(go mod download -json "github.com/compose-spec/compose-go/v2@$COMPOSE_GO_VERSION" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    install -m 0644 "$module_dir/schema/compose-spec.json" "$schema"
    echo "$COMPOSE_GO_VERSION" >"$tools/compose-spec.version"
fi

echo "deploy tools in $tools/bin (tests/deploy finds them there)"
