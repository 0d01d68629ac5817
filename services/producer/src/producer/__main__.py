"""`order-producer`: publish order documents to Kafka.

    order-producer orders.json          a JSON document, a JSON array of them, or JSON lines
    order-producer - < orders.jsonl     the same from standard input
    order-producer --canonical          the canonical order of the task (shipped with us)
    order-producer --generate 100 --rate 20
    order-producer --topic order-status status.jsonl

Documents from a file are sent as they are (byte for byte, one message each), so
this also publishes deliberately broken messages for testing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import msgspec
from aiokafka.errors import KafkaError

from order_shared.model import encode_order
from order_shared.settings import ServiceSettings, load_settings
from order_shared.telemetry import configure_logging, configure_tracing
from order_shared.topics import ORDERS
from producer.demo import canonical_order
from producer.generator import generate_order
from producer.publisher import publish


def documents_from_text(data: bytes) -> Iterator[bytes]:
    """One document, a JSON array of documents, or one document per line."""
    stripped = data.strip()
    if stripped.startswith(b"["):
        for element in msgspec.json.decode(stripped, type=list[msgspec.Raw]):
            yield bytes(element)
        return
    try:
        msgspec.json.decode(stripped)
    except msgspec.DecodeError:
        yield from (line for line in (raw.strip() for raw in stripped.splitlines()) if line)
        return
    yield stripped


# A seeded run must repeat itself byte for byte, so its dates count back from a fixed day.
SEEDED_NOW = datetime(2026, 1, 1, tzinfo=UTC)


def generated_documents(count: int, seed: int | None) -> Iterator[bytes]:
    rng = random.Random(seed)
    now = SEEDED_NOW if seed is not None else None
    for _ in range(count):
        yield encode_order(generate_order(rng, now))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="order-producer",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("file", nargs="?", help="JSON file to publish, or - for standard input")
    source.add_argument("--generate", type=int, metavar="N", help="publish N generated orders")
    source.add_argument(
        "--canonical",
        action="store_true",
        help="publish the canonical order of the task (b563feb7b2b84b6test)",
    )
    parser.add_argument("--seed", type=int, help="random seed for --generate (repeatable runs)")
    parser.add_argument(
        "--rate", type=float, help="messages per second (default: as fast as possible)"
    )
    parser.add_argument("--topic", default=ORDERS, help=f"Kafka topic (default: {ORDERS})")
    parser.add_argument(
        "--bootstrap-servers", help="Kafka bootstrap servers (default: KAFKA_BOOTSTRAP_SERVERS)"
    )
    args = parser.parse_args(argv)
    if args.generate is not None and args.generate < 0:
        parser.error("--generate needs a count of 0 or more")
    if args.rate is not None and args.rate <= 0:
        parser.error("--rate must be positive")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    settings = load_settings(ServiceSettings)
    configure_logging(settings.log_level, settings.log_format)
    configure_tracing(
        settings.otel_service_name or "producer",
        settings.otel_exporter_otlp_endpoint,
        begins_traces=True,
    )
    if args.generate is not None:
        documents: Iterator[bytes] = generated_documents(args.generate, args.seed)
    elif args.canonical:
        documents = documents_from_text(canonical_order())
    elif args.file == "-":
        documents = documents_from_text(sys.stdin.buffer.read())
    else:
        path = Path(args.file)
        if not path.is_file():
            sys.exit(f"order-producer: no such file: {path}")
        documents = documents_from_text(path.read_bytes())
    bootstrap = args.bootstrap_servers or settings.kafka_bootstrap_servers
    try:
        sent = asyncio.run(publish(bootstrap, args.topic, documents, args.rate))
    except KafkaError as error:
        sys.exit(f"order-producer: Kafka at {bootstrap}: {error}")
    print(f"published {sent} messages to {args.topic} on {bootstrap}", file=sys.stderr)


if __name__ == "__main__":
    main()
