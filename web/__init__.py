"""The thin HTTP layer and the composition roots (app factory, CLI, worker)."""
