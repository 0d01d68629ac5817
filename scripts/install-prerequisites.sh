#!/usr/bin/env bash
# Installs what `make up` and `make test` need on a Debian-like machine, skipping what is
# already there: PostgreSQL, Redis, nginx (the local ingress), Java and Maven (for the
# Kafka broker jars), uv, and the Python workspace from its lockfile. Extra Debian packages may be passed as arguments.
set -euo pipefail

need_packages=()
command -v redis-server >/dev/null || need_packages+=(redis-server)
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || need_packages+=(postgresql)
# Debian puts nginx in /usr/sbin, which an ordinary user's PATH may leave out.
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_packages+=(nginx)
command -v java >/dev/null || need_packages+=(default-jre-headless)
command -v mvn >/dev/null || need_packages+=(maven)
for package in "$@"; do
    dpkg -s "$package" >/dev/null 2>&1 || need_packages+=("$package")
done

if ((${#need_packages[@]})); then
    echo "installing Debian packages: ${need_packages[*]}"
    sudo_if_needed=()
    [[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
    "${sudo_if_needed[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_if_needed[@]}" apt-get install -y -qq --no-install-recommends "${need_packages[@]}"
    if [[ " ${need_packages[*]} " == *" nginx "* ]] && command -v systemctl >/dev/null; then
        # Only the binary is wanted (devstack runs its own nginx on loopback): the
        # package's system service would serve Debian's default site on port 80.
        "${sudo_if_needed[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
    fi
fi

if ! command -v uv >/dev/null; then
    echo "installing uv"
    python3 -m pip install --quiet --user uv 2>/dev/null || python3 -m pip install --quiet uv
    export PATH="$HOME/.local/bin:$PATH"
fi

uv sync --frozen --quiet
