"""Where generated code runs: the host, emulated microcontrollers (``targets.mcu``), MicroPython."""
