"""Warnings that point at the caller's own line.

A warning raised deep in the pipeline, with a fixed ``stacklevel``, points at whichever library frame
happens to sit that far up (imbalanced-learn's ``fit_resample``, scikit-learn's wrapper): the user sees
a line they never wrote. ``warn_caller`` walks past gan-aug's, imbalanced-learn's and scikit-learn's
frames to the first frame of the caller's code (a script, a notebook cell, a test)."""
from __future__ import annotations

import os
import sys
import warnings

import imblearn
import sklearn

_LIBRARIES = tuple(os.path.dirname(module.__file__) + os.sep
                   for module in (sys.modules[__name__.split(".")[0]], imblearn, sklearn))


def warn_caller(message: str, category: type[Warning] = UserWarning) -> None:
    """``warnings.warn`` with the stack level of the first frame outside the libraries."""
    frame, level = sys._getframe(1), 2  # level 1 is this function; 2 the frame that called it
    while frame is not None and frame.f_code.co_filename.startswith(_LIBRARIES):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)
