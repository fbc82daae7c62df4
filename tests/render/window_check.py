"""Run under a display (the test starts Xvfb): draws into a GLFW window and prints the screen-vs-offscreen difference."""
import numpy as np
from avatar_engine.render.context import Window
from avatar_engine.render.renderer import Renderer, RenderOptions, STUDIO_BACKDROP
from avatar_engine.render.camera import Camera
from avatar_engine.records import Expression
from avatar_engine.head.template import template_avatar
with Window((320, 240)) as win:
    r = Renderer(win.ctx, RenderOptions(size=(320, 240), background=STUDIO_BACKDROP)); r.load(template_avatar())
    r.render(Expression.from_names({'jawOpen': 0.5}), Camera()); r.blit_to_screen(); win.swap()
    r.render(Expression.from_names({'jawOpen': 0.5}), Camera()); r.blit_to_screen()
    screen = np.frombuffer(win.ctx.screen.read(components=3), np.uint8).reshape(240, 320, 3)[::-1]
    own = r.read()[..., :3]
    print('MEAN_DIFF', np.abs(screen.astype(int) - own).mean())
    r.release(); win.swap()
