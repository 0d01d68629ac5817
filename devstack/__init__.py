"""Local servers for `make up` and the test suite: real PostgreSQL, Redis and Apache Kafka
run as plain processes with their data under a folder of our choosing."""
