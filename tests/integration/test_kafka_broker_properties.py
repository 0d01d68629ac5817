"""The broker `make up` and the tests run is configured only with properties the broker
knows: a misspelt one is silently ignored by Kafka, and its default applies."""

from __future__ import annotations

from pathlib import Path

from devstack import kafka_broker
from devstack.servers import KAFKA_LIBS


def test_every_property_of_the_generated_server_properties_is_known_to_the_broker(
    tmp_path: Path,
) -> None:
    """Failed before with two garbled names (`offsets.topic.transaction.state.log.
    replication.factor`, `transaction.state.log.share.coordinator.state.topic.replication.
    factor`): the transaction log kept its replication factor of 3 on a single broker,
    and a transactional producer's `init_transactions` timed out."""
    libs = kafka_broker.ensure_jars(KAFKA_LIBS)
    kafka_broker.prepare_broker(libs, tmp_path, port=1, controller_port=2)
    known = kafka_broker.known_properties(libs)
    assert "transaction.state.log.replication.factor" in known  # the list is the broker's

    written = kafka_broker.property_names(tmp_path / "server.properties")

    assert written - known == set()
    assert {
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "share.coordinator.state.topic.replication.factor",
    } <= written
