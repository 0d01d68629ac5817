"""The API and the page: HTTP routes over the informer, the app factory, and the lean
path that answers a cached order before the framework."""
