#version 330 core
// A soft studio backdrop: vertical gradient with a gentle vignette, drawn before the avatar.
#if defined VERTEX_SHADER
#define QUAD_DEPTH 0.999
#include "lib/fullscreen_quad.glsl"
#endif
#if defined FRAGMENT_SHADER
in vec2 v_uv;
uniform vec3 u_top;
uniform vec3 u_bottom;
out vec4 frag_color;
void main() {
    vec3 c = mix(u_bottom, u_top, smoothstep(0.0, 1.0, v_uv.y));
    float vignette = 1.0 - 0.35 * dot(v_uv - 0.5, v_uv - 0.5);
    frag_color = vec4(c * vignette, 1.0);
}
#endif
