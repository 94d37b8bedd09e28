"""Proving the record: hash-chain integrity and anchors, replay and as-of on the recorded inputs."""
