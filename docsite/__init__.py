"""What the documentation site (`mkdocs.yml`, pages in `docs/`) generates from the code at
build time, so that it cannot drift: the OpenAPI pages (`openapi`), the configuration
reference (`configuration`) and the benchmark charts (`charts`), wired in by `hooks`."""
