"""microlearn: scikit-learn models and DSP to exact C and MicroPython for microcontrollers."""

__version__ = "0.1.0"
