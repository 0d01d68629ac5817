"""Release preparation: the schema's migrations, dev login users and the Kafka topics.

One place for every caller: the `order-migrations` image (`order-migrate`, run by Helm's
hook Job, Tilt and Compose), `make up` (devstack) and the test harness all call
`prepare_release`, so what the tests prepare is what ships.
"""
