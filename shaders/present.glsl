#version 330 core
// The rendered frame drawn onto a window whose framebuffer is another size (resized, or a HiDPI screen):
// the renderer's colour texture over a full-viewport quad; the caller letterboxes the viewport.
#if defined VERTEX_SHADER
#include "lib/fullscreen_quad.glsl"
#endif
#if defined FRAGMENT_SHADER
in vec2 v_uv;
uniform sampler2D u_frame;
out vec4 frag_color;
void main() {
    frag_color = texture(u_frame, v_uv);
}
#endif
