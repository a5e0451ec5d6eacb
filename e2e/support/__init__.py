"""Helpers for the end-to-end suite: the running stack, users, pages and HTTP clients."""
