"""Sensors on landing prefixes."""
