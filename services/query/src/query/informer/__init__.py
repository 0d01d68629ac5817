"""The cache: every order in memory as ready-to-send JSON, kept fresh from PostgreSQL and
Redis the way a Kubernetes informer keeps its store (`informer.OrderInformer`)."""
