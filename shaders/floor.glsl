#version 330 core
// The cheapest useful shading: rest positions through one matrix, one directional light, a constant colour.
// benchmarks/render_floor.py draws the avatar's own triangles with it to measure what the GL driver costs
// before any of the renderer's work (morphs, skinning, textures, materials, hair alpha) is added.
// TEXTURED adds the one thing every textured avatar needs: one fetch of its albedo texture per pixel, at a mip level
// chosen per draw (as the renderer's per-vertex preset does).
#if defined VERTEX_SHADER
in vec3 in_position;
in vec3 in_normal;
uniform mat4 u_view_projection;
out vec3 v_normal;
#if defined TEXTURED
in vec2 in_uv;
out vec2 v_uv;
#endif
void main() {
    v_normal = in_normal;
#if defined TEXTURED
    v_uv = in_uv;
#endif
    gl_Position = u_view_projection * vec4(in_position, 1.0);
}
#endif
#if defined FRAGMENT_SHADER
in vec3 v_normal;
out vec4 frag_color;
#if defined TEXTURED
in vec2 v_uv;
uniform sampler2D u_texture;
uniform float u_lod;
#endif
void main() {
    float light = 0.25 + 0.75 * max(dot(v_normal, vec3(0.3, 0.5, 0.81)), 0.0);
#if defined TEXTURED
    frag_color = vec4(textureLod(u_texture, v_uv, u_lod).rgb * light, 1.0);
#else
    frag_color = vec4(vec3(light), 1.0);
#endif
}
#endif
