#version 330 core
// Texture-space bake: draws each triangle at its (packed) UV and writes attributes the texture script composes:
// target 0 = rest position, target 1 = MakeHuman region masks sampled at the original UV.
#if defined VERTEX_SHADER
in vec2 in_uv;          // packed UV, glTF convention (v down)
in vec2 in_source_uv;   // MakeHuman UV, OBJ convention (v up)
in vec3 in_position;
out vec2 v_source_uv;
out vec3 v_position;
void main() {
    v_source_uv = in_source_uv;
    v_position = in_position;
    gl_Position = vec4(in_uv.x * 2.0 - 1.0, 1.0 - in_uv.y * 2.0, 0.0, 1.0);
}
#endif
#if defined FRAGMENT_SHADER
in vec2 v_source_uv;
in vec3 v_position;
uniform sampler2D u_lips;
uniform sampler2D u_eyelids;
uniform sampler2D u_mouth;
layout(location = 0) out vec4 out_position;
layout(location = 1) out vec4 out_masks;
void main() {
    vec2 st = vec2(v_source_uv.x, 1.0 - v_source_uv.y);  // images are stored top row first
    out_position = vec4(v_position, 1.0);
    out_masks = vec4(texture(u_lips, st).r, texture(u_eyelids, st).r, texture(u_mouth, st).r, 1.0);
}
#endif
