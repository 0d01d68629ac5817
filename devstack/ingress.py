"""The local ingress: nginx from Debian's packages in front of our services, routing as the
Helm chart's Ingress does, so that the page reaches the courier API on its own origin
locally exactly as in a cluster.

Each path a service lists in its `ingress_paths` (devstack.services) goes to that service,
as a Kubernetes `Prefix` path: the path itself and what lies below it, element by element
(`/api/v1/couriers` and `/api/v1/couriers/7`, not `/api/v1/couriersX`). Everything else
goes to the INGRESS_DEFAULT service, balanced round-robin over all its replicas; its live
streams (STREAMS_PATH) unbuffered and with long read timeouts.

nginx runs in the foreground as whoever starts it (supervisord for `make up`, the test
harness's Popen), with its pid, temporary files and configuration in a folder of ours and
its access log in a file of ours and its errors on standard error: nothing under /var.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.process import ServerCommand
from devstack.readiness import wait_until
from devstack.services import INGRESS_DEFAULT, SERVICES, STREAMS_PATH

_CONFIG = """\
# Written by devstack.ingress for this stack; rewritten at every start.
{user}daemon off;
worker_processes 1;
pid {state}/nginx.pid;
error_log stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    access_log {access_log};
    client_body_temp_path {state}/client_body;
    proxy_temp_path {state}/proxy;
    fastcgi_temp_path {state}/fastcgi;
    uwsgi_temp_path {state}/uwsgi;
    scgi_temp_path {state}/scgi;

{upstreams}
    server {{
        listen 127.0.0.1:{port};

        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;

{locations}
        # The page's live streams (server-sent events): passed on as they come, never
        # buffered, and kept open however quiet (the replicas send a comment every 15 s).
        location ^~ {streams}/ {{
            proxy_pass http://{default};
            proxy_buffering off;
            proxy_cache off;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_next_upstream error timeout http_502 http_503;
        }}

        # The page and the order API: everything no service above claims.
        location / {{
            proxy_pass http://{default};
            # A replica that fails is taken out for 10 s; another one answers meanwhile.
            proxy_next_upstream error timeout http_502 http_503;
        }}
    }}
}}
"""


def _upstream(service: str, ports: Sequence[int]) -> str:
    # A replica that fails twice is taken out for 10 s, as the Compose proxy does.
    servers = "".join(
        f"        server 127.0.0.1:{port} max_fails=2 fail_timeout=10s;\n" for port in ports
    )
    return f"    upstream {service} {{\n{servers}        keepalive 8;\n    }}\n"


def _prefix_locations(path: str, service: str) -> str:
    """A Kubernetes `Prefix` path as nginx locations: the path exactly, and below it
    (`^~`: no regular expression location may take it instead)."""
    path = path.rstrip("/")
    return "".join(
        f"        location {match} {{\n            proxy_pass http://{service};\n        }}\n"
        for match in (f"= {path}", f"^~ {path}/")
    )


def _user_directive() -> str:
    """Run the workers as whoever started nginx. Only a master running as root switches
    its workers' user (to `nobody` unless told), and nginx warns about the directive
    otherwise, so it is written only then."""
    if os.geteuid() != 0:
        return ""
    user = pwd.getpwuid(os.geteuid()).pw_name
    return f"user {user} {grp.getgrgid(os.getegid()).gr_name};\n"


def render_config(
    port: int, replicas: Mapping[str, Sequence[int]], state_dir: Path, access_log: Path
) -> str:
    """nginx's configuration: listening on 127.0.0.1:`port`, `replicas` (service name ->
    the ports of its replicas) behind it, its files in `state_dir`."""
    missing = sorted({INGRESS_DEFAULT, *routes()} - set(replicas))
    if missing:
        raise ValueError(f"the ingress needs the replicas of {', '.join(missing)}")
    upstreams = [INGRESS_DEFAULT, *sorted(set(routes()) - {INGRESS_DEFAULT})]
    return _CONFIG.format(
        user=_user_directive(),
        state=state_dir,
        access_log=access_log,
        port=port,
        default=INGRESS_DEFAULT,
        streams=STREAMS_PATH,
        upstreams="".join(_upstream(service, replicas[service]) for service in upstreams),
        locations="".join(
            _prefix_locations(path, service)
            for service, paths in routes().items()
            for path in paths
        ),
    )


def routes() -> dict[str, tuple[str, ...]]:
    """Service name -> the paths the ingress sends to it, besides INGRESS_DEFAULT's `/`."""
    return {
        name: service.ingress_paths for name, service in SERVICES.items() if service.ingress_paths
    }


def prepare_server(
    state_dir: Path,
    port: int,
    replicas: Mapping[str, Sequence[int]],
    access_log: Path,
    name: str = "ingress",
) -> ServerCommand:
    """Write the configuration into `state_dir`; return how to run nginx in the foreground
    (named `name`), logging each request to `access_log`."""
    # Debian puts it in /usr/sbin, which an ordinary user's PATH may leave out.
    executable = shutil.which("nginx", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")
    if executable is None:
        raise RuntimeError("nginx not found: install Debian's `nginx` package")
    state_dir.mkdir(parents=True, exist_ok=True)
    config = state_dir / "nginx.conf"
    access_log.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(render_config(port, replicas, state_dir, access_log))
    # -e: where the errors before the configuration is read go (Debian's default is
    # stderr already; said here so that no build's /var/log path is ever opened).
    return ServerCommand(
        name, [executable, "-p", str(state_dir), "-c", str(config), "-e", "stderr"]
    )


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}"


def wait_until_ready(port: int, timeout: float = 30.0) -> None:
    """Until nginx accepts connections (it proxies, so it has no readiness of its own)."""

    def accepts() -> bool:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True

    wait_until(
        accepts, what=f"nginx on port {port}", timeout=timeout, interval=0.1, retry_on=OSError
    )
