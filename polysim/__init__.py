"""polysim."""
