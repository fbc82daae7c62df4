"""Pure solvers: MediaPipe (or ARKit app) scores and head pose -> avatar weights, bone rotations; One Euro filter.

Nothing here does I/O or keeps hidden state: filters and calibration take their state in and hand it back.
"""

from avatar_engine.solve.calibration import Calibration, calibrate, reference_calibration
from avatar_engine.solve.filters import OneEuroState, one_euro
from avatar_engine.solve.frames import LandmarkFrame, SolvedFrame
from avatar_engine.solve.pose import head_angles, rotation_from_angles
from avatar_engine.solve.solver import filter_frame, solve_frame, to_expression
from avatar_engine.solve.tuning import ARKIT_TUNING, DEFAULT_TUNING, SolverTuning

__all__ = ["Calibration", "calibrate", "reference_calibration", "OneEuroState", "one_euro", "LandmarkFrame",
           "SolvedFrame", "head_angles", "rotation_from_angles", "filter_frame", "solve_frame", "to_expression",
           "ARKIT_TUNING", "DEFAULT_TUNING", "SolverTuning"]
