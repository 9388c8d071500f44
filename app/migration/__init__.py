"""Importers that move data from other gateways into Relaygate."""
