"""Exceptions raised by microlearn. Each message says what to do about it."""

from __future__ import annotations


class MicrolearnError(Exception):
    """Base class of every error microlearn raises on purpose."""


class UnsupportedEstimatorError(MicrolearnError, TypeError):
    """The estimator (or one of its settings) has no microlearn conversion."""


class NotFittedError(MicrolearnError, ValueError):
    """The estimator has not been fitted yet."""


class InvalidInputError(MicrolearnError, ValueError):
    """Input data or an argument has the wrong shape, type or value."""


class ModelFileError(MicrolearnError, ValueError):
    """A model file is malformed, truncated, corrupted or of an unknown version."""


class ToolchainError(MicrolearnError, RuntimeError):
    """A compiler, emulator or interpreter microlearn needs is missing or failed."""


class CompileError(ToolchainError):
    """The C compiler rejected generated or user code; the message carries its output."""


class ModelTooLargeError(CompileError):
    """The model does not fit the target's flash or RAM (or a budget given for it); the message says by
    how much and what to change: a smaller model, another method or another target."""
