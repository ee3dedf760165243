"""Shared test set-up. This folder is on sys.path, so tests import builders from ``fixtures/``."""

import os

pytest_plugins = ["fixtures.redis_server"]  # the redis_server fixture (a real redis-server) for every test

# WebRTC in tests stays on loopback: every server a test makes (in this process or a subprocess, which inherits
# the environment) offers ICE host candidates on 127.0.0.1 only.
os.environ.setdefault("VIZSERVER_RTC_HOST_ADDRESSES", "127.0.0.1")
