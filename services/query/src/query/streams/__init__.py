"""Live changes for the page: server-sent event streams of one order and of the newest
orders, fed by the informer's apply path (see `change_feed`)."""
