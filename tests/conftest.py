"""Shared test set-up. This folder is on sys.path, so tests import builders from ``fixtures/``."""
