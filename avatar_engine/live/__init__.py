"""The live loop: sources, tracker, animator, renderer and outputs; threads and queues live only here.

    from avatar_engine.live import LiveAvatar, LiveOptions     # embed: feed frames, get weights and images
    from avatar_engine.live import LandmarkFrame               # another tracker's scores and pose, fed in
    from avatar_engine.live import LivePipeline, open_source   # run: camera or file through outputs
"""

from avatar_engine.live.animator import Animator, AnimatorOptions
from avatar_engine.live.api import LiveAvatar, LiveOptions
from avatar_engine.live.idle import IdleOptions
from avatar_engine.live.outputs import LiveFrame, Output, RecordOutput, VirtualCameraOutput, VmcOutput
from avatar_engine.live.pipeline import LivePipeline, PipelineOptions
from avatar_engine.live.sources import CapturedFrame, list_cameras, open_source
from avatar_engine.live.stats import LiveStats
from avatar_engine.solve.frames import LandmarkFrame, SolvedFrame

__all__ = ["Animator", "AnimatorOptions", "LiveAvatar", "LiveOptions", "IdleOptions", "LiveFrame", "Output",
           "RecordOutput", "VirtualCameraOutput", "VmcOutput", "LivePipeline", "PipelineOptions", "CapturedFrame",
           "list_cameras", "open_source", "LiveStats", "LandmarkFrame", "SolvedFrame"]
