#!/usr/bin/env bash
# `make images`: the five images of Order Service, built from the one Dockerfile and tagged
# as Compose (`order-<name>:dev`) and the chart (`order-<name>:<appVersion>`) name them:
# order-migrations, order-ingestor, order-query, order-courier, order-producer.
#
# On a machine with Docker and a registry this is an ordinary `docker build` of each
# target. Where no engine runs, it starts the project's own (scripts/docker-engine.sh);
# where the Dockerfile's base images cannot be pulled, it makes local ones without any
# registry: a Python base from Debian's packages (debootstrap, `docker import`) and a uv
# image from the pinned uv wheel. Builds and bases are cached: a second run takes seconds.
#
# Settings (environment):
#   LOCAL_BASES=auto|yes|no  auto (default): local bases only when the ordinary ones cannot
#                            be pulled
#   IMAGE_CA_BUNDLE=FILE     off by default: a CA bundle for the local Python base, for
#                            builds behind a TLS-inspecting proxy (the machine's bundle,
#                            say /etc/ssl/certs/ca-certificates.crt)
#   IMAGES="query courier"   build only these (default: all five)
set -euo pipefail

# One Dockerfile target per image; PACKAGE is the workspace member it installs.
targets=(migrations ingestor query courier producer)

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$repo/versions.env"
cd "$repo"
state=$repo/.state/images
mkdir -p "$state"
started=$SECONDS
step() { printf '[images %3d s] %s\n' "$((SECONDS - started))" "$*" >&2; }

# --- the engine --------------------------------------------------------------------------
build_network=()
if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    step "no Docker engine answers: starting the project's (scripts/docker-engine.sh)"
    export "$(bash scripts/docker-engine.sh start)"
fi
if [[ ${DOCKER_HOST:-} == "$(bash scripts/docker-engine.sh host | cut -d= -f2-)" ]]; then
    # The project's engine has no bridge: builds reach the package index on the host's network.
    build_network=(--network host)
fi

# --- BuildKit: the Dockerfile's cache and bind mounts need it ----------------------------
if ! docker buildx version >/dev/null 2>&1; then
    plugins=$repo/.state/tools/docker
    if [[ ! -x $plugins/cli-plugins/docker-buildx ]]; then
        step "docker has no buildx: building it (scripts/install-image-tools.sh)"
        bash scripts/install-image-tools.sh
    fi
    export DOCKER_CONFIG=$plugins
fi

# --- base images -------------------------------------------------------------------------
dockerfile_arg() { sed -n "s/^ARG $1=//p" Dockerfile; }
python_image=$(dockerfile_arg PYTHON_IMAGE)
uv_image=$(dockerfile_arg UV_IMAGE)
base_args=()

can_pull() {
    docker image inspect "$1" >/dev/null 2>&1 || timeout 60 docker pull -q "$1" >/dev/null 2>&1
}

debian_mirror() {
    # The mirror this machine's apt uses for the suite (a proxy or a local mirror included).
    apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
        awk -v suite="$LOCAL_BASE_SUITE" '$2 == suite { print $1; exit }'
}

local_python_base() {
    local packages="python3 ca-certificates"
    local ca_sum="none"
    if [[ -n ${IMAGE_CA_BUNDLE:-} ]]; then
        [[ -f $IMAGE_CA_BUNDLE ]] || { echo "IMAGE_CA_BUNDLE=$IMAGE_CA_BUNDLE: no such file" >&2; exit 2; }
        ca_sum=$(sha256sum "$IMAGE_CA_BUNDLE" | cut -c1-16)
    fi
    local key="$LOCAL_BASE_SUITE $packages ca:$ca_sum"
    local tag="order-local/python:3.11-$LOCAL_BASE_SUITE"
    local label='{{ index .Config.Labels "org.order-service.base" }}'
    if [[ "$(docker image inspect --format "$label" "$tag" 2>/dev/null)" == "$key" ]]; then
        step "local Python base $tag: present"
        echo "$tag"
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "images: making the local Python base needs root (debootstrap)" >&2
        exit 1
    fi
    step "local Python base $tag: debootstrap $LOCAL_BASE_SUITE (first time: about a minute)"
    local rootfs=$state/python-rootfs
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include="${packages// /,}" "$LOCAL_BASE_SUITE" "$rootfs" \
        $(debian_mirror) >"$state/debootstrap.log" 2>&1 ||
        { tail -n 20 "$state/debootstrap.log" >&2; exit 1; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/*
    local changes=(-c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
        -c "LABEL org.order-service.base=\"$key\"")
    if [[ -n ${IMAGE_CA_BUNDLE:-} ]]; then
        install -m 0644 "$IMAGE_CA_BUNDLE" "$rootfs/etc/ssl/certs/ca-certificates.crt"
        # uv reads SSL_CERT_FILE, not the system store.
        changes+=(-c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt')
    fi
    tar -C "$rootfs" -c . | docker import "${changes[@]}" - "$tag" >/dev/null
    rm -rf "$rootfs"
    step "local Python base $tag: made"
    echo "$tag"
}

local_uv_image() {
    local tag="order-local/uv:$UV_VERSION"
    if docker image inspect "$tag" >/dev/null 2>&1; then
        echo "$tag"
        return
    fi
    # The pinned uv that scripts/install-prerequisites.sh put in .state/tools (from its wheel).
    local uv_binary
    uv_binary=$(readlink -f .state/tools/bin/uv)
    [[ $("$uv_binary" --version | awk '{print $2}') == "$UV_VERSION" ]] ||
        { echo "images: run scripts/install-prerequisites.sh for uv $UV_VERSION" >&2; exit 1; }
    tar -C "$(dirname "$uv_binary")" -c uv | docker import - "$tag" >/dev/null
    echo "$tag"
}

local_bases=${LOCAL_BASES:-auto}
if [[ $local_bases == auto ]]; then
    if can_pull "$python_image" && can_pull "$uv_image"; then
        local_bases=no
    else
        step "$python_image or $uv_image cannot be pulled: making local bases"
        local_bases=yes
    fi
fi
if [[ $local_bases == yes ]]; then
    python_base=$(local_python_base)
    uv_base=$(local_uv_image)
    base_args=(--build-arg "PYTHON_IMAGE=$python_base" --build-arg "UV_IMAGE=$uv_base")
fi

# --- the five images ---------------------------------------------------------------------
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' deploy/helm/Chart.yaml)
read -ra wanted <<<"${IMAGES:-${targets[*]}}"
for target in "${wanted[@]}"; do
    step "order-$target: building"
    log=$state/build-$target.log
    if ! docker build --progress plain "${build_network[@]}" "${base_args[@]}" \
            --target "$target" --build-arg "PACKAGE=order-$target" \
            -t "order-$target:dev" -t "order-$target:$app_version" . >"$log" 2>&1; then
        tail -n 25 "$log" >&2
        echo "images: order-$target failed (whole log: $log)." >&2
        if grep -q "invalid peer certificate" "$log"; then
            echo "A TLS-inspecting proxy? IMAGE_CA_BUNDLE=<its CA bundle> make images" >&2
        fi
        exit 1
    fi
done
step "built: ${wanted[*]/#/order-} (tags dev and $app_version)"
if [[ ${build_network[*]} ]]; then
    echo "The project's engine keeps running: DOCKER_HOST=$DOCKER_HOST docker images;" \
        "bash scripts/docker-engine.sh stop stops it."
fi
