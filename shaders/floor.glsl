#version 330 core
// The cheapest useful shading: rest positions through one matrix, one directional light, a constant colour.
// benchmarks/render_floor.py draws the avatar's own triangles with it to measure what the GL driver costs
// before any of the renderer's work (morphs, skinning, textures, materials, hair alpha) is added.
#if defined VERTEX_SHADER
in vec3 in_position;
in vec3 in_normal;
uniform mat4 u_view_projection;
out vec3 v_normal;
void main() {
    v_normal = in_normal;
    gl_Position = u_view_projection * vec4(in_position, 1.0);
}
#endif
#if defined FRAGMENT_SHADER
in vec3 v_normal;
out vec4 frag_color;
void main() {
    float light = 0.25 + 0.75 * max(dot(v_normal, vec3(0.3, 0.5, 0.81)), 0.0);
    frag_color = vec4(vec3(light), 1.0);
}
#endif
