"""A real single-node Apache Kafka broker (KRaft, combined broker+controller) for dev and tests.

The broker runs from the jars listed in ``kafka/pom.xml`` (fetched with Maven), so no Kafka
distribution or container is needed, only ``java`` (17+) and ``mvn`` on PATH:

    libs = ensure_jars(Path(".state/kafka-libs"))
    argv = prepare_broker(libs, Path(".state/kafka"), port=9092, controller_port=9093)
    proc = subprocess.Popen(argv)
    wait_until_ready("127.0.0.1:9092")
    ...
    proc.terminate()  # SIGTERM = controlled shutdown; data survives for the next start

Broker logs (WARN and up) go to ``<data_dir>/broker.log``, rolled at 10 MB, two files kept.
The JVM exits with 143 after a clean SIGTERM shutdown.  ``__consumer_offsets`` has a single
partition, so the readiness probe's group shares its coordinator with every real group.

A cluster (``make up CLUSTER=1``, the cluster tests): ``prepare_broker`` once per node with
its ``node_id`` and the same ``Quorum``, every node a combined broker+controller, topics
replicated to three brokers with ``min.insync.replicas=2``, as production runs them.
"""

from __future__ import annotations

import base64
import os
import shutil
import socket
import struct
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from devstack.readiness import wait_until
from devstack.versions import pin

KAFKA_VERSION: str = pin("KAFKA_VERSION")

POM: Path = Path(__file__).resolve().parent / "kafka" / "pom.xml"
KNOWN_CONFIGS: Path = POM.with_name("KnownConfigs.java")
JVM_OPTS: tuple[str, ...] = tuple(
    "-Xms128m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError"
    " -Djava.awt.headless=true".split()
)

_LOG4J2 = """\
status = warn
shutdownHook = disable
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log}
appender.file.filePattern = {log}.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 10MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 1
rootLogger.level = WARN
rootLogger.appenderRef.file.ref = file
"""

_SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
controller.listener.names=CONTROLLER
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs={log_dirs}
auto.create.topics.enable=false
default.replication.factor={replication}
min.insync.replicas={min_isr}
offsets.topic.replication.factor={replication}
transaction.state.log.replication.factor={replication}
transaction.state.log.min.isr={min_isr}
share.coordinator.state.topic.replication.factor={replication}
share.coordinator.state.topic.min.isr={min_isr}
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
"""


def _java(libs_dir: Path, data_dir: Path, main: str, *args: str) -> list[str]:
    log4j = f"-Dlog4j2.configurationFile={data_dir / 'log4j2.properties'}"
    return ["java", *JVM_OPTS, log4j, "-cp", f"{libs_dir.resolve()}/*", main, *args]


def ensure_jars(libs_dir: Path) -> Path:
    """Fetch the broker's runtime jars into ``libs_dir`` (owned by this function: replaced
    wholesale) unless the jars of KAFKA_VERSION are already there."""
    if (libs_dir / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file():
        return libs_dir
    staging = libs_dir.with_name(f".{libs_dir.name}.{os.getpid()}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    plugin = "org.apache.maven.plugins:maven-dependency-plugin"
    goal = f"{plugin}:{pin('MAVEN_DEPENDENCY_PLUGIN_VERSION')}:copy-dependencies"
    cmd = ["mvn", "-q", "-B", "-f", str(POM), goal]
    cmd += [f"-Dkafka.version={KAFKA_VERSION}", f"-Dlog4j.version={pin('KAFKA_LOG4J_VERSION')}"]
    cmd += [f"-DoutputDirectory={staging.resolve()}", "-DincludeScope=runtime"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        output = f"{proc.stdout}{proc.stderr}"
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{output}")
    shutil.rmtree(libs_dir, ignore_errors=True)
    staging.rename(libs_dir)
    return libs_dir


def _cluster_id() -> str:
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cid.startswith("-"):
            return cid


@dataclass(frozen=True)
class Quorum:
    """The controllers of a cluster: (node id, controller port) each, and the id that every
    node's storage is formatted with."""

    controllers: Sequence[tuple[int, int]]
    cluster_id: str

    @property
    def voters(self) -> str:
        return ",".join(f"{node}@127.0.0.1:{port}" for node, port in self.controllers)

    @property
    def replication(self) -> int:
        """Every topic on every broker, at most three; acknowledged by all but one of them."""
        return min(3, len(self.controllers))


def cluster_quorum(data_root: Path, controller_ports: Sequence[int]) -> Quorum:
    """The quorum of brokers 1..n on `controller_ports`, its id kept in `data_root` so that
    a restarted node rejoins its cluster."""
    id_file = data_root / "kafka-cluster-id"
    if not id_file.is_file():
        data_root.mkdir(parents=True, exist_ok=True)
        id_file.write_text(_cluster_id() + "\n")
    controllers = list(enumerate(controller_ports, start=1))
    return Quorum(controllers, id_file.read_text().strip())


def prepare_broker(
    libs_dir: Path,
    data_dir: Path,
    port: int,
    controller_port: int,
    *,
    node_id: int = 1,
    quorum: Quorum | None = None,
) -> list[str]:
    """Write the configs into ``data_dir``, format storage once, and return the broker argv.
    Without a ``quorum`` the broker is a cluster of one."""
    quorum = quorum or Quorum([(node_id, controller_port)], _cluster_id())
    data_dir = data_dir.resolve()
    log_dirs = data_dir / "kraft-logs"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "log4j2.properties").write_text(_LOG4J2.format(log=data_dir / "broker.log"))
    server_properties = data_dir / "server.properties"
    server_properties.write_text(
        _SERVER_PROPERTIES.format(
            port=port,
            controller_port=controller_port,
            log_dirs=log_dirs,
            node_id=node_id,
            voters=quorum.voters,
            replication=quorum.replication,
            min_isr=max(1, quorum.replication - 1),
        )
    )
    if not (log_dirs / "meta.properties").is_file():
        args = ["format", "-t", quorum.cluster_id, "-c", str(server_properties)]
        cmd = _java(libs_dir, data_dir, "kafka.tools.StorageTool", *args)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"formatting {log_dirs} failed:\n{proc.stdout}{proc.stderr}")
    return _java(libs_dir, data_dir, "kafka.Kafka", str(server_properties))


def property_names(server_properties: Path) -> set[str]:
    """The property names a properties file sets."""
    lines = (line.strip() for line in server_properties.read_text().splitlines())
    return {line.split("=", 1)[0] for line in lines if line and not line.startswith("#")}


def known_properties(libs_dir: Path) -> frozenset[str]:
    """Every property name the broker itself knows: its own configuration definition
    (`kafka.server.KafkaConfig.configDef()`), asked of the jars by a one-file Java program.
    A name it does not know is ignored by the broker with a warning in its log."""
    cmd = ["java", "-cp", f"{libs_dir.resolve()}/*", str(KNOWN_CONFIGS)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr}")
    return frozenset(proc.stdout.split())


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by broker")
        buf += chunk
    return bytes(buf)


def _call(sock: socket.socket, api_key: int, version: int, body: bytes) -> bytes:
    """One request/response round trip (request header v1, response header v0); returns the body."""
    client_id = b"devstack-ready"
    request = struct.pack(">hhih", api_key, version, 1, len(client_id)) + client_id + body
    sock.sendall(struct.pack(">i", len(request)) + request)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    return _recv_exact(sock, size)[4:]


class BrokerNotReady(Exception):
    """The broker answers but cannot serve producers and consumer groups yet."""


def _check_ready(host: str, port: int, brokers_expected: int = 1) -> bool:
    """True once the broker can serve producers and consumer groups; else BrokerNotReady.

    Metadata v4 lists only alive (unfenced) brokers.  FindCoordinator v1 creates
    __consumer_offsets if needed, and OffsetFetch v2 answers COORDINATOR_LOAD_IN_PROGRESS
    in its top-level error code until the group coordinator has loaded committed offsets,
    which aiokafka's ``committed()`` silently reads as "no committed offset".
    """
    group = b"devstack-ready"
    with socket.create_connection((host, port), timeout=2.0) as sock:
        (brokers,) = struct.unpack_from(">i", _call(sock, 3, 4, struct.pack(">ib", 0, 0)), 4)
        if brokers < brokers_expected:
            raise BrokerNotReady(f"{brokers} of {brokers_expected} brokers alive in metadata")
        find = _call(sock, 10, 1, struct.pack(">h", len(group)) + group + b"\x00")
        (error,) = struct.unpack_from(">h", find, 4)
        if error:
            raise BrokerNotReady(f"FindCoordinator error {error}")
        (message_length,) = struct.unpack_from(">h", find, 6)
        at = 8 + max(0, message_length) + 4  # past the error message and the node id
        (host_length,) = struct.unpack_from(">h", find, at)
        coordinator_host = find[at + 2 : at + 2 + host_length].decode()
        (coordinator_port,) = struct.unpack_from(">i", find, at + 2 + host_length)
    # In a cluster the group's coordinator may be another broker: ask it.
    with socket.create_connection((coordinator_host, coordinator_port), timeout=2.0) as sock:
        fetch = _call(sock, 9, 2, struct.pack(">h", len(group)) + group + struct.pack(">i", -1))
        (error,) = struct.unpack_from(">h", fetch, len(fetch) - 2)
        if error:
            raise BrokerNotReady(f"OffsetFetch error {error}")
        return True


def wait_until_ready(bootstrap: str, timeout: float = 60.0, brokers_expected: int = 1) -> None:
    """Block until the broker is unfenced, sees `brokers_expected` alive brokers, and its
    group coordinator has loaded its state."""
    host, _, port = bootstrap.rpartition(":")
    wait_until(
        lambda: _check_ready(host, int(port), brokers_expected),
        what=f"Kafka broker at {bootstrap}",
        timeout=timeout,
        retry_on=(OSError, struct.error, BrokerNotReady),
    )
