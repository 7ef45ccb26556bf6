"""Platform emulators on loopback: real HTTP servers that the real client libraries talk to in tests."""
