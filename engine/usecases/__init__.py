"""Use cases by area, each public function or method one transaction; ``engine.runtime`` composes them."""
