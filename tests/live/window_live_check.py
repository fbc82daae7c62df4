"""Run under a display (test_window_live starts Xvfb): the live loop in a GLFW window, driven by hotkeys.

argv: FOLDER of frames. Prints one RESULT line of JSON."""
import json
import sys

import glfw
import numpy as np

from avatar_engine.live import LiveAvatar, LiveOptions, LivePipeline, PipelineOptions, open_source
from avatar_engine.live.window import WindowOutput

window = WindowOutput((96, 64))
live = LiveAvatar(options=LiveOptions(size=(96, 64), samples=0), ctx=window.ctx)
log = {"mirror": [], "frames": 0, "screen_diff": None}
press = {5: glfw.KEY_M, 8: glfw.KEY_S, 10: glfw.KEY_C, 14: glfw.KEY_M, 60: glfw.KEY_ESCAPE}


def on_frame(frame):
    log["frames"] += 1
    n = log["frames"]
    if n == 3:  # the window shows what was rendered
        screen = np.frombuffer(window.ctx.screen.read(components=3), np.uint8).reshape(64, 96, 3)[::-1]
        log["screen_diff"] = float(np.abs(screen.astype(int) - frame.rgba[..., :3].astype(int)).mean())
    if n in press:
        window.on_key(window.window.handle, press[n], 0, glfw.PRESS, 0)
    log["mirror"].append(live.mirror)
    if live.animator.calibration.frames and "calibrated_at" not in log:
        log["calibrated_at"] = n


with open_source(sys.argv[1]) as source:
    pipeline = LivePipeline(source, live, [window], PipelineOptions(lossless=True, loop=True, max_frames=200,
                                                                    on_frame=on_frame))
    window.attach(pipeline)
    summary = pipeline.run()
log["actions"] = window.actions
log["overlay"] = window.overlay
log["calibration_frames"] = live.animator.calibration.frames
log["rendered"] = summary["counts"]["rendered"]
live.close()
window.destroy()
print("RESULT", json.dumps(log))
