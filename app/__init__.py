"""Backchannel: a private, logged line between a virtual-classroom producer and facilitator."""

__version__ = "0.1.0"
