"""Shared test set-up. This folder is on sys.path, so tests import builders from ``fixtures/``."""

pytest_plugins = ["fixtures.redis_server"]  # the redis_server fixture (a real redis-server) for every test
