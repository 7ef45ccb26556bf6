"""Nexoraz chat: the runnable (settings, composition root, channels, HTTP server, workers, CLI)."""
