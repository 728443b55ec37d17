"""Simulators of the two outside systems, shipped so the demo and the tests run without them."""
