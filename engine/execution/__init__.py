"""Stepping one ticket's workflow: the step itself, workflow state and its cache, service handlers, the clock."""
