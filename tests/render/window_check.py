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
    # resized to twice the render size: the frame is scaled to fill it (a 1:1 copy filled only the lower-left quarter)
    win._glfw.set_window_size(win.handle, 640, 480)
    for _ in range(20):
        win._glfw.poll_events()
        if win.framebuffer_size == (640, 480):
            break
        win._glfw.wait_events_timeout(0.05)
    for _ in range(2):  # as the live loop does, frame after frame: the drawable follows the window at a swap
        r.render(Expression.from_names({'jawOpen': 0.5}), Camera()); r.blit_to_screen(win.framebuffer_size); win.swap()
    r.render(Expression.from_names({'jawOpen': 0.5}), Camera()); r.blit_to_screen(win.framebuffer_size)
    w, h = win.framebuffer_size
    big = np.frombuffer(win.ctx.screen.read(viewport=(0, 0, w, h), components=3), np.uint8).reshape(h, w, 3)[::-1]
    half = big.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))
    print('RESIZED', w, h, 'DIFF', np.abs(half - own).mean())
    r.release(); win.swap()
