#version 330 core
// Blends the morph targets into one offset per vertex, once per frame, before the avatar is drawn
// (avatar_engine/render/morphs.py describes the textures). One fragment per vertex and kind: texel
// (id % width, kind * vertex_rows + id / width), kind 0 = position offset, 1 = normal offset.
// As a fragment pass it runs once per vertex on all rasteriser threads, and only over the targets that move the
// vertex; in the vertex shader the same sums would be redone for every triangle corner, on one thread of a
// software rasteriser.
#if defined VERTEX_SHADER
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1));
    gl_Position = vec4(corner * 2.0 - 1.0, 0.0, 1.0);
}
#endif

#if defined FRAGMENT_SHADER
uniform isampler2D u_morph_index;    // (start, count) of each vertex's entries
uniform sampler2D u_morph_entries;   // (offset xyz, target) per entry: positions block, then normals block
uniform int u_width;
uniform int u_vertex_rows;
uniform int u_entry_rows;
uniform float u_weights[52];

out vec4 offset;

void main() {
    ivec2 texel = ivec2(gl_FragCoord.xy);
    int kind = texel.y / u_vertex_rows;
    ivec2 range = texelFetch(u_morph_index, ivec2(texel.x, texel.y - kind * u_vertex_rows), 0).xy;
    vec3 sum = vec3(0.0);
    for (int k = 0; k < range.y; ++k) {
        int e = range.x + k;
        vec4 entry = texelFetch(u_morph_entries, ivec2(e % u_width, kind * u_entry_rows + e / u_width), 0);
        sum += u_weights[int(entry.w)] * entry.xyz;
    }
    offset = vec4(sum, 0.0);
}
#endif
