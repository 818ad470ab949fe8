"""Vigil: people-centric video analytics on one CPU box."""

__version__ = "0.1.0"
