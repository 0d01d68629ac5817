#!/usr/bin/env bash
# The project's own Docker engine, for machines that have none running: Debian's dockerd
# (scripts/install-image-tools.sh installs it at its pin), started as root with host
# networking only: no bridge, no iptables rules, no IP forwarding, so it never creates a
# network or takes a private-range address. Every container it runs uses `--network host`.
# Its data, socket and pid live in .state/docker, its log in .state/logs/dockerd.log.
#
#   bash scripts/docker-engine.sh start   # start it unless it answers; print DOCKER_HOST=...
#   bash scripts/docker-engine.sh stop    # stop it by its own pid, if it runs
#   bash scripts/docker-engine.sh host    # print DOCKER_HOST=... (whether or not it runs)
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
state=$repo/.state/docker
socket=$state/docker.sock
pidfile=$state/dockerd.pid
log=$repo/.state/logs/dockerd.log
docker_host=unix://$socket

answers() { DOCKER_HOST=$docker_host docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }

start() {
    if answers; then
        echo "DOCKER_HOST=$docker_host"
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "docker-engine: the project's engine runs as root; run as root, or use your own" >&2
        echo "Docker engine (DOCKER_HOST or its default socket) with 'make images'" >&2
        exit 1
    fi
    if ! command -v dockerd >/dev/null; then
        echo "docker-engine: no dockerd: run 'bash scripts/install-image-tools.sh' first" >&2
        exit 1
    fi
    mkdir -p "$state/data" "$state/exec" "$(dirname "$log")"
    # A pid file left by an engine that died would stop dockerd from starting.
    if [[ -f $pidfile ]] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
        rm -f "$pidfile"
    fi
    setsid dockerd \
        --host "$docker_host" --pidfile "$pidfile" \
        --data-root "$state/data" --exec-root "$state/exec" \
        --bridge=none --iptables=false --ip6tables=false --ip-forward=false --ip-masq=false \
        >>"$log" 2>&1 </dev/null &
    for _ in $(seq 1 150); do
        if answers; then
            echo "DOCKER_HOST=$docker_host"
            return
        fi
        sleep 0.2
    done
    echo "docker-engine: dockerd did not answer within 30 s; its log, $log, ends:" >&2
    tail -n 20 "$log" >&2
    exit 1
}

stop() {
    [[ -f $pidfile ]] || return 0
    local pid
    pid=$(cat "$pidfile")
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.2
    done
    echo "docker-engine: dockerd ($pid) still runs 30 s after SIGTERM" >&2
    exit 1
}

case ${1:-} in
    start) start ;;
    stop) stop ;;
    host) echo "DOCKER_HOST=$docker_host" ;;
    *) echo "usage: $0 start|stop|host" >&2; exit 2 ;;
esac
