#version 330 core
// The rendered frame drawn onto a window whose framebuffer is another size (resized, or a HiDPI screen):
// the renderer's colour texture over a full-viewport quad; the caller letterboxes the viewport.
#if defined VERTEX_SHADER
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1));
    v_uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
#endif
#if defined FRAGMENT_SHADER
in vec2 v_uv;
uniform sampler2D u_frame;
out vec4 frag_color;
void main() {
    frag_color = texture(u_frame, v_uv);
}
#endif
