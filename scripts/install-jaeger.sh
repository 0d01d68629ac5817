#!/usr/bin/env bash
# Installs Jaeger v2 (the `jaeger` binary: OTLP receiver, in-memory storage, query API) for
# `make up` and the tracing tests, skipping it when the pinned version is present.
#
# Jaeger's go.mod has a `replace` directive, so `go install …@version` refuses it: the
# module is downloaded from the Go module proxy and `./cmd/jaeger` is built inside it.
# About 5 minutes on 2 cores the first time (mostly dependency downloads and compiling).
# The module build serves the query API; the web UI's assets are not part of the module
# (the Compose and kind Jaeger images have them).
#
# Jaeger tags each release twice: JAEGER_MODULE_VERSION in versions.env is the Go module's
# tag of the release JAEGER_VERSION names.
# Installs to .state/tools/bin (git-ignored); pass a folder to install elsewhere.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$repo/versions.env"
tools=${1:-$repo/.state/tools}
mkdir -p "$tools/bin"
tools=$(cd "$tools" && pwd)

if [[ -x "$tools/bin/jaeger" && -f "$tools/jaeger.version" &&
      "$(cat "$tools/jaeger.version")" == "$JAEGER_MODULE_VERSION" ]]; then
    echo "jaeger $JAEGER_MODULE_VERSION: present"
    exit 0
fi
if ! command -v go >/dev/null; then
    echo "install-jaeger: Go is needed to build Jaeger" >&2
    exit 1
fi
export GOFLAGS="${GOFLAGS:--buildvcs=false}"
echo "jaeger $JAEGER_MODULE_VERSION: building (first time: about 5 minutes)"
started=$SECONDS
module_dir=$(go mod download -json "github.com/jaegertracing/jaeger@$JAEGER_MODULE_VERSION" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
(cd "$module_dir" && go build -trimpath -ldflags "-s -w" -o "$tools/bin/jaeger.partial" ./cmd/jaeger)
mv "$tools/bin/jaeger.partial" "$tools/bin/jaeger"
echo "$JAEGER_MODULE_VERSION" >"$tools/jaeger.version"
echo "jaeger $JAEGER_MODULE_VERSION: built in $((SECONDS - started)) s"
