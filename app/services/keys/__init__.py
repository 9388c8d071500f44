"""API keys: issuing and validating keys, their own limits, permissions and the portal's view."""
