"""What a diagram is and may do: hardened XML, lint, parsed definitions, the expression sandbox, form schemas."""
