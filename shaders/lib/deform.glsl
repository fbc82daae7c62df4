// Morph targets and linear-blend skinning, evaluated per vertex on the GPU.
// Target offsets live in a float texture: texel (id % WIDTH, row) with row = (target * 2 + kind) * rows + id / WIDTH,
// kind 0 = position offset, 1 = normal offset. Only the active targets are looped over.
uniform sampler2D u_morph_texture;
uniform int u_morph_width;
uniform int u_morph_rows;        // texture rows per target and kind
uniform int u_active_count;
uniform int u_active_targets[52];
uniform float u_active_weights[52];
uniform mat4 u_joint_matrices[8];

vec3 morph_fetch(int target, int kind, int id) {
    int row = (target * 2 + kind) * u_morph_rows + id / u_morph_width;
    return texelFetch(u_morph_texture, ivec2(id % u_morph_width, row), 0).xyz;
}

mat4 skin_matrix(ivec4 joints, vec4 weights) {
    return weights.x * u_joint_matrices[joints.x] + weights.y * u_joint_matrices[joints.y]
         + weights.z * u_joint_matrices[joints.z] + weights.w * u_joint_matrices[joints.w];
}

void deform(int id, vec3 position, vec3 normal, ivec4 joints, vec4 weights, out vec3 out_position, out vec3 out_normal) {
    vec3 p = position;
    vec3 n = normal;
    for (int i = 0; i < u_active_count; ++i) {
        int t = u_active_targets[i];
        float w = u_active_weights[i];
        p += w * morph_fetch(t, 0, id);
        n += w * morph_fetch(t, 1, id);
    }
    mat4 skin = skin_matrix(joints, weights);
    out_position = (skin * vec4(p, 1.0)).xyz;
    out_normal = normalize(mat3(skin) * n);
}
