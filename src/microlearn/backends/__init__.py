"""Backends: generate outputs (C source, model files) from the IR, and nothing else."""
