#!/usr/bin/env bash
# Installs what `make images` and the container test need, each at its pin (versions.env),
# skipping what is present:
#
#   Debian's docker.io (dockerd, containerd, runc) and debootstrap, for machines with no
#   Docker engine and no registry (scripts/docker-engine.sh, scripts/images.sh);
#   docker-buildx and docker-compose, Docker CLI plugins built with the Go toolchain into
#   .state/tools/docker/cli-plugins (scripts/images.sh points DOCKER_CONFIG there when the
#   machine's docker has no buildx). Both modules carry replace or exclude directives, so
#   each is downloaded and built inside its module, with the version its release sets.
#   About 4 minutes on 2 cores the first time.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$repo/versions.env"
tools=$repo/.state/tools
plugins=$tools/docker/cli-plugins
mkdir -p "$plugins"

bash "$repo/scripts/install-debian-packages.sh" images

if ! command -v go >/dev/null; then
    echo "install-image-tools: Go is needed to build docker-buildx and docker-compose" >&2
    exit 1
fi
export GOFLAGS="${GOFLAGS:--buildvcs=false}"

# build_plugin NAME MODULE VERSION PACKAGE LDFLAGS: one CLI plugin, unless built at VERSION.
build_plugin() {
    local name=$1 module=$2 version=$3 package=$4 ldflags=$5
    if [[ -x $plugins/$name && "$(cat "$tools/$name.version" 2>/dev/null)" == "$version" ]]; then
        echo "$name $version: present"
        return
    fi
    echo "$name $version: building (first time: about 2 minutes)"
    local started=$SECONDS module_dir
    module_dir=$(go mod download -json "$module@$version" |
        python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    (cd "$module_dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$plugins/$name.partial" "$package")
    mv "$plugins/$name.partial" "$plugins/$name"
    echo "$version" >"$tools/$name.version"
    echo "$name $version: built in $((SECONDS - started)) s"
}

build_plugin docker-buildx github.com/docker/buildx "$BUILDX_VERSION" ./cmd/buildx \
    "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Package=github.com/docker/buildx"
build_plugin docker-compose github.com/docker/compose/v5 "$COMPOSE_VERSION" ./cmd \
    "-X github.com/docker/compose/v5/internal.Version=$COMPOSE_VERSION"
