"""Marshmallow schemas: what clients send and what they get back (camelCase on the wire)."""
