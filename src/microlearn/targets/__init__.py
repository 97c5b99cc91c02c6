"""Where generated code runs: the host, emulated Cortex-M CPUs, MicroPython."""
