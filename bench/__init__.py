"""Load and latency harness for Backchannel, with a bare-relay floor and a Socket.IO relay."""
