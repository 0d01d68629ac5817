#!/usr/bin/env bash
# Installs Debian packages at the exact versions versions.env pins, skipping those already
# installed at their pin (a package at another version is changed to the pin, up or down).
# Arguments name groups of versions.env: base (DEBIAN_PACKAGES), browser, bench, images, soak.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../versions.env
source "$repo/versions.env"

wanted=()
for group in "$@"; do
    case $group in
        base) specs=$DEBIAN_PACKAGES ;;
        browser) specs=$DEBIAN_BROWSER_PACKAGES ;;
        bench) specs=$DEBIAN_BENCH_PACKAGES ;;
        images) specs=$DEBIAN_IMAGE_PACKAGES ;;
        soak) specs=$DEBIAN_SOAK_PACKAGES ;;
        *) echo "install-debian-packages: no group '$group' (base, browser, bench, images, soak)" >&2; exit 2 ;;
    esac
    for spec in $specs; do
        name=${spec%%=*}
        installed=$(dpkg-query -W -f='${Status} ${Version}' "$name" 2>/dev/null || true)
        [[ $installed == "install ok installed ${spec#*=}" ]] || wanted+=("$spec")
    done
done
((${#wanted[@]})) || exit 0

echo "installing Debian packages at their pins: ${wanted[*]}"
sudo_if_needed=()
[[ $(id -u) -eq 0 ]] || sudo_if_needed=(sudo)
"${sudo_if_needed[@]}" apt-get update -qq
if ! "${sudo_if_needed[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends --allow-downgrades "${wanted[@]}"; then
    echo "install-debian-packages: apt could not install a pinned version (above). If the" >&2
    echo "package source no longer offers it, bump the pin in versions.env on purpose." >&2
    exit 1
fi
if [[ " ${wanted[*]} " == *" nginx="* ]] && command -v systemctl >/dev/null; then
    # Only the binary is wanted (devstack runs its own nginx on loopback): the package's
    # system service would serve Debian's default site on port 80.
    "${sudo_if_needed[@]}" systemctl disable --now nginx >/dev/null 2>&1 || true
fi
