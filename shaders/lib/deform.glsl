// Morph targets and linear-blend skinning per vertex. The active targets were summed once this frame
// (avatar_engine/render/morphs.py): with MORPH_ATTRIBUTES by the CPU into two vertex attributes, otherwise by
// shaders/morph_blend.glsl into u_morph_blend: texel (id % width, kind * rows + id / width), kind 0 = position
// offset, 1 = normal offset.
uniform mat4 u_joint_matrices[8];

#if defined MORPH_ATTRIBUTES
in vec3 in_morph_position;
in vec3 in_morph_normal;
vec3 morph_offset(int kind, int id) { return kind == 0 ? in_morph_position : in_morph_normal; }
#else
uniform sampler2D u_morph_blend;
uniform int u_morph_width;
uniform int u_morph_rows;

vec3 morph_offset(int kind, int id) {
    return texelFetch(u_morph_blend, ivec2(id % u_morph_width, kind * u_morph_rows + id / u_morph_width), 0).xyz;
}
#endif

// Weights come dense, one per joint (joints 0-3, then 4-7): every lane reads the same matrices, so the sum is
// plain multiply-adds. Indexing the array by per-vertex joint ids is a gather per element instead, which on a
// software rasteriser cost more than the rest of the vertex shader.
mat4 skin_matrix(vec4 w0, vec4 w1) {
    return w0.x * u_joint_matrices[0] + w0.y * u_joint_matrices[1] + w0.z * u_joint_matrices[2]
         + w0.w * u_joint_matrices[3] + w1.x * u_joint_matrices[4] + w1.y * u_joint_matrices[5]
         + w1.z * u_joint_matrices[6] + w1.w * u_joint_matrices[7];
}

void deform(int id, vec3 position, vec3 normal, mat4 skin, out vec3 out_position, out vec3 out_normal) {
    vec3 p = position + morph_offset(0, id);
    vec3 n = normal + morph_offset(1, id);
    out_position = (skin * vec4(p, 1.0)).xyz;
    out_normal = normalize(mat3(skin) * n);
}
