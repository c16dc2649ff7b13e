"""polysim.synthetic."""
