#version 330 core
// One program per material kind, chosen by a define: MATERIAL_SKIN, MATERIAL_EYE, MATERIAL_TEETH,
// MATERIAL_TONGUE or MATERIAL_HAIR.

#if defined VERTEX_SHADER
#include "lib/deform.glsl"

in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_joints;  // joint indices as floats: portable across GL drivers
in vec4 in_weights;
#if defined MATERIAL_HAIR
in vec4 in_tangent;
out vec3 v_tangent;
#endif

uniform mat4 u_view_projection;
uniform mat4 u_model;

out vec3 v_world;
out vec3 v_normal;
out vec2 v_uv;
out vec3 v_rest;

void main() {
    vec3 p, n;
    ivec4 joints = ivec4(in_joints + 0.5);
    deform(gl_VertexID, in_position, in_normal, joints, in_weights, p, n);
    vec4 world = u_model * vec4(p, 1.0);
    v_world = world.xyz;
    v_normal = normalize(mat3(u_model) * n);
    v_uv = in_uv;
    v_rest = in_position;
#if defined MATERIAL_HAIR
    mat4 skin = in_weights.x * u_joint_matrices[joints.x] + in_weights.y * u_joint_matrices[joints.y]
              + in_weights.z * u_joint_matrices[joints.z] + in_weights.w * u_joint_matrices[joints.w];
    v_tangent = normalize(mat3(u_model) * mat3(skin) * in_tangent.xyz);
#endif
    gl_Position = u_view_projection * world;
}
#endif

#if defined FRAGMENT_SHADER
#include "lib/lighting.glsl"

in vec3 v_world;
in vec3 v_normal;
in vec2 v_uv;
in vec3 v_rest;
#if defined MATERIAL_HAIR
in vec3 v_tangent;
#endif

uniform sampler2D u_base_texture;
uniform vec4 u_base_color;
uniform float u_roughness;
uniform vec2 u_cavity_depth;   // rest-space z of the mouth's front and back: darkens what lies deep inside
uniform float u_alpha_cutoff;

out vec4 frag_color;

float cavity_light() {
    return mix(0.18, 1.0, smoothstep(u_cavity_depth.y, u_cavity_depth.x, v_rest.z));
}

void main() {
    vec4 tex = texture(u_base_texture, v_uv);
    vec3 albedo = srgb_to_linear(tex.rgb) * u_base_color.rgb;
    float alpha = tex.a * u_base_color.a;
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 v = normalize(u_camera_position - v_world);
    vec3 color = vec3(0.0);

#if defined MATERIAL_SKIN
    // Per-channel wrap lighting stands in for subsurface scattering: red light reaches further round.
    const vec3 wrap = vec3(0.42, 0.22, 0.16);
    float fresnel = fresnel_schlick(0.028, n, v);
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        float nl = dot(n, u_light_dirs[i]);
        vec3 diffuse = clamp((vec3(nl) + wrap) / (1.0 + wrap), 0.0, 1.0);
        diffuse *= diffuse;  // keeps the terminator soft but not flat
        color += u_light_colors[i] * (albedo * diffuse / PI * (1.0 - fresnel)
                                      + 2.0 * ggx_specular(n, v, u_light_dirs[i], u_roughness) * fresnel);
    }
    color += albedo * ambient(n) * 0.9;
    float grazing = 1.0 - max(dot(n, v), 0.0);
    color += 0.06 * grazing * grazing * grazing * u_sky_color;  // velvet sheen at grazing angles
#elif defined MATERIAL_EYE
    float lid_shadow = mix(0.55, 1.0, smoothstep(0.55, -0.1, n.y));
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        float nl = max(dot(n, u_light_dirs[i]), 0.0);
        color += u_light_colors[i] * (albedo * (0.25 + 0.75 * nl) / PI * lid_shadow
                                      + 2.5 * ggx_specular(n, v, u_light_dirs[i], u_roughness) * fresnel_schlick(0.04, n, v));
    }
    color += albedo * ambient(n) * lid_shadow;
#elif defined MATERIAL_HAIR
    if (alpha < u_alpha_cutoff) discard;
    vec3 t = normalize(v_tangent);
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        vec3 l = u_light_dirs[i];
        float diffuse = mix(0.3, 1.0, clamp(dot(n, l) * 0.5 + 0.5, 0.0, 1.0));
        // Kajiya-Kay: two lobes shifted along the normal, the second tinted by the hair colour
        vec3 h = normalize(l + v);
        vec3 t1 = normalize(t + 0.08 * n);
        vec3 t2 = normalize(t - 0.12 * n);
        float th1 = dot(t1, h), th2 = dot(t2, h);
        float s1 = pow(max(1.0 - th1 * th1, 0.0), 45.0);  // sin^90 written as (1 - cos^2)^45
        float s2 = pow(max(1.0 - th2 * th2, 0.0), 9.0);
        float facing = smoothstep(-0.1, 0.3, dot(n, l));
        color += u_light_colors[i] * (albedo * diffuse / PI + facing * (0.035 * s1 + 0.12 * s2 * albedo));
    }
    color += albedo * ambient(n) * 0.8;
    alpha = 1.0;
#else  // MATERIAL_TEETH, MATERIAL_TONGUE
    float cavity = 0.6 * cavity_light();  // the lips and cheeks shade the whole mouth
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        float nl = max(dot(n, u_light_dirs[i]), 0.0);
        color += u_light_colors[i] * (albedo * nl / PI + 0.4 * ggx_specular(n, v, u_light_dirs[i], u_roughness)
                                                              * fresnel_schlick(0.04, n, v)) * cavity;
    }
    color += albedo * ambient(n) * cavity * 0.8;
#endif
    frag_color = vec4(to_display(color), 1.0);
}
#endif
