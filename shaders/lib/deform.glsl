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

mat4 skin_matrix(ivec4 joints, vec4 weights) {
    return weights.x * u_joint_matrices[joints.x] + weights.y * u_joint_matrices[joints.y]
         + weights.z * u_joint_matrices[joints.z] + weights.w * u_joint_matrices[joints.w];
}

void deform(int id, vec3 position, vec3 normal, ivec4 joints, vec4 weights, out vec3 out_position, out vec3 out_normal) {
    vec3 p = position + morph_offset(0, id);
    vec3 n = normal + morph_offset(1, id);
    mat4 skin = skin_matrix(joints, weights);
    out_position = (skin * vec4(p, 1.0)).xyz;
    out_normal = normalize(mat3(skin) * n);
}
