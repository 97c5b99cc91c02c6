"""Frontends turn fitted estimators of other libraries into microlearn IR."""
