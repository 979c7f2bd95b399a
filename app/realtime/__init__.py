"""Real-time fan-out: the broker interface and its backends, the hub, the /ws endpoint."""
