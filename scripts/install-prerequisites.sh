#!/usr/bin/env bash
# Installs what `make up` and `make test` need on a Debian-like machine, each at its pin in
# versions.env and skipping what is already there at that version: PostgreSQL, Redis,
# nginx (the local ingress), Java and Maven (for the Kafka broker's jars) from Debian; uv
# in .state/tools/bin (whatever uv the machine may have elsewhere); the Python workspace
# from uv.lock; the Kafka broker's jars. Extra groups of versions.env's Debian packages may be passed (browser, bench, soak).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$repo/versions.env"

bash "$repo/scripts/install-debian-packages.sh" base "$@"

tools=$repo/.state/tools
uv_version() { "$1" --version 2>/dev/null | awk '{print $2}'; }
if [[ $(uv_version "$tools/bin/uv") != "$UV_VERSION" ]]; then
    mkdir -p "$tools/bin"
    host_uv=$(command -v uv || true)
    if [[ -n $host_uv && $(uv_version "$host_uv") == "$UV_VERSION" ]]; then
        ln -sfn "$host_uv" "$tools/bin/uv"
    else
        echo "installing uv $UV_VERSION in $tools (the machine's: ${host_uv:-none}${host_uv:+ $(uv_version "$host_uv")})"
        rm -rf "$tools/uv-$UV_VERSION"
        python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
            --no-warn-script-location --target "$tools/uv-$UV_VERSION" "uv==$UV_VERSION"
        ln -sfn "../uv-$UV_VERSION/bin/uv" "$tools/bin/uv"
    fi
fi

"$tools/bin/uv" sync --frozen --quiet
# The Kafka broker's pinned jars, fetched with Maven once per checkout.
"$tools/bin/uv" run --frozen python -m devstack prepare
