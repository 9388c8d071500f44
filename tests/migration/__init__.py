"""Tests of the claude-relay-service migration reader."""
