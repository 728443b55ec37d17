"""Simulators of the outside systems, speaking their real protocols (shipped: the demo runs on them)."""
