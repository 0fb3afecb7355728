"""Widgets: each is a view over a model from studio.models or a client from studio/*_client.py."""
