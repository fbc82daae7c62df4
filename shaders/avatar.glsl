#version 330 core
// One program per material kind, chosen by a define: MATERIAL_SKIN, MATERIAL_EYE, MATERIAL_TEETH,
// MATERIAL_TONGUE or MATERIAL_HAIR. SHADE_PER_VERTEX moves the lighting into the vertex shader (software
// rasterisers, where every interpolated value and fragment instruction costs CPU time); the albedo texture is
// still sampled per pixel.

#if defined VERTEX_SHADER
#include "lib/deform.glsl"

in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in vec4 in_weights;     // skinning weight of joints 0-3
in vec4 in_weights_hi;  // and of joints 4-7
in float in_occlusion;
#if defined MATERIAL_HAIR
in vec4 in_tangent;
#endif

uniform mat4 u_view_projection;
uniform mat4 u_model;

#if defined MATERIAL_HAIR
// The skull as an occluder (avatar_engine/render/occluder.py): a hair vertex it hides gets a negative clip
// distance, and a triangle hidden at all three vertices is dropped before it costs any rasterising.
uniform mat4 u_occluder;      // world -> the skull ellipsoid's unit-sphere space
uniform vec4 u_occluder_eye;  // xyz: the camera in that space; w: 1 to cull, 0 to draw everything
const float HIDDEN_MARGIN = 0.05;  // ellipsoid radii (~4 mm): only what lies well inside its shadow is dropped

float unhidden_distance(vec3 world) {
    if (u_occluder_eye.w < 0.5) return 1.0;
    vec3 p = (u_occluder * vec4(world, 1.0)).xyz;
    vec3 e = u_occluder_eye.xyz;
    // the view ray passes through the ellipsoid when its closest approach to the centre is under 1, and the
    // ellipsoid is in front of p when p lies beyond the centre's plane facing the camera
    float miss = length(cross(e, p)) / max(length(p - e), 1e-6) - 1.0;
    float ahead = dot(p, e) / length(e);
    return max(miss, ahead) + HIDDEN_MARGIN;
}
#endif

#if defined MATERIAL_TEETH
const float SIDE_LIGHT = 0.3;
// The light a tooth's surface gets through the open mouth, as the sky's share in shade_mouth: the baked occlusion
// (lips closed) lifted, as parting lips uncover the teeth, times how far the surface faces the opening in front
// (rest normal's z: 1 from 0.8, SIDE_LIGHT at -0.2 and below; about 0.37 facing sideways, up or down). The cheeks
// and the tongue shade the sides of the rows and their inner faces whatever the lips do: lit like the fronts, the
// near side's row read as a bright slab through a wide-open mouth seen from 35 degrees.
float tooth_light(vec3 rest_normal, float baked) {
    return mix(0.5, 1.0, baked) * mix(SIDE_LIGHT, 1.0, smoothstep(-0.2, 0.8, rest_normal.z));
}
#endif

#if defined MATERIAL_EYE
// The eyeball's baked occlusion over its socket's directions (render/eye_occlusion.py): read at the normal in the
// socket's frame, the lids' and corners' shade stays where they are as the eye turns.
#if !defined SHADE_PER_VERTEX
uniform mat3 u_socket;
#endif
uniform float u_eye_occlusion[9];
float socket_occlusion(vec3 s) {
    float sh[9] = float[9](0.282095, 0.488603 * s.y, 0.488603 * s.z, 0.488603 * s.x, 1.092548 * s.x * s.y,
                           1.092548 * s.y * s.z, 0.315392 * (3.0 * s.z * s.z - 1.0), 1.092548 * s.x * s.z,
                           0.546274 * (s.x * s.x - s.y * s.y));
    float ao = 0.0;
    for (int i = 0; i < 9; ++i) ao += u_eye_occlusion[i] * sh[i];
    return clamp(ao, 0.0, 1.0);
}
#endif

out vec2 v_uv;
#if defined MATERIAL_TEETH
out vec3 v_tooth;  // rest position: the tooth pattern is drawn per pixel in both shading modes
#endif
#if defined SHADE_PER_VERTEX
#include "lib/materials.glsl"
out vec3 v_diffuse;
out vec3 v_specular;
#else
uniform vec3 u_camera_position;
out vec3 v_world;
out vec3 v_normal;
out float v_shape_z;
out float v_occlusion;
#if defined MATERIAL_HAIR
out vec3 v_tangent;
#endif
#endif

void main() {
    vec3 p, n;
    mat4 skin = skin_matrix(in_weights, in_weights_hi);
    deform(gl_VertexID, in_position, in_normal, skin, p, n);
    vec4 world = u_model * vec4(p, 1.0);
    n = normalize(mat3(u_model) * n);
    vec3 t = vec3(0.0);
#if defined MATERIAL_HAIR
    t = normalize(mat3(u_model) * mat3(skin) * in_tangent.xyz);
#endif
    v_uv = in_uv;
#if defined MATERIAL_TEETH
    v_tooth = in_position;
#endif
    float occlusion = in_occlusion;
#if defined MATERIAL_EYE
    occlusion = socket_occlusion(n * u_socket);  // transpose(u_socket) * n: the normal in the socket's frame
#endif
#if defined MATERIAL_TEETH
    occlusion = tooth_light(in_normal, in_occlusion);
#endif
    float shape_z = in_position.z;
#if defined MATERIAL_TEETH || defined MATERIAL_TONGUE
    // depth in the mouth after the expression's shapes, before the bones: a tongue stuck out leaves the mouth's shade
    shape_z += morph_offset(0, gl_VertexID).z;
#endif
#if defined SHADE_PER_VERTEX
    vec3 v = normalize(u_camera_position - world.xyz);
#if defined MATERIAL_HAIR
    if (dot(n, v) < 0.0) n = -n;  // double-sided cards: light the side that faces the camera
#endif
    shade(n, v, t, shape_z, occlusion, v_diffuse, v_specular);
#else
    v_world = world.xyz;
    v_normal = n;
    v_shape_z = shape_z;
    v_occlusion = occlusion;
#if defined MATERIAL_HAIR
    v_tangent = t;
#endif
#endif
    gl_Position = u_view_projection * world;
#if defined MATERIAL_HAIR
    gl_ClipDistance[0] = unhidden_distance(world.xyz);
#endif
}
#endif

#if defined FRAGMENT_SHADER
#if defined SHADE_PER_VERTEX
#include "lib/lighting.glsl"
uniform vec4 u_base_color;
in vec3 v_diffuse;
in vec3 v_specular;
#else
#include "lib/materials.glsl"
in vec3 v_world;
in vec3 v_normal;
in float v_shape_z;
in float v_occlusion;
#if defined MATERIAL_HAIR
in vec3 v_tangent;
#endif
#endif
in vec2 v_uv;
#if defined MATERIAL_TEETH
in vec3 v_tooth;
#if defined SHADE_PER_VERTEX
uniform vec2 u_cavity_depth;  // (front, back) rest z of the part; materials.glsl declares it otherwise
#endif
// Distance (metres along the dental arch, from the midline) of each tooth's edge: the midline between the central
// incisors, then incisors, canine, premolars, molars, for an arch whose depth (front to back of the part) is
// ARCH_DEPTH.
const float TOOTH_EDGES[8] = float[8](0.0, 0.0085, 0.0150, 0.0225, 0.0295, 0.0365, 0.0465, 0.0565);
const float ARCH_DEPTH = 0.055;
uniform float u_tooth_edge[12];   // the row's biting edge: heights at even steps of the arch angle (head/tooth_edge.py)
uniform vec2 u_tooth_edge_range;  // (arch angle of the last step, side: 1 upper row, -1 lower, 0 no edge known)
const float TIP_NOTCH = 0.0025;   // metres from the biting edge over which the gap between teeth opens to a notch
const float TIP_ENAMEL = 0.0018;  // metres of thin, translucent enamel at the tip
const float CROWN_HEIGHT = 0.0105;  // metres of tooth from the biting edge; the gum beyond, where the band goes on
const float PAPILLA = 0.0018;     // how much nearer the edge the gum reaches between two teeth
const vec3 GUM = vec3(0.55, 0.20, 0.22);  // the gum's colour over the teeth's base colour: a deep pink

const float NO_EDGE_TIP = 0.005;   // where no edge is known: mid-crown, past the tip's notch and enamel, short of the gum

// How far p lies from the row's biting edge into the tooth, metres.
float tip_distance(vec3 p, float angle) {
    if (u_tooth_edge_range.y == 0.0) return NO_EDGE_TIP;
    float t = clamp(angle / max(u_tooth_edge_range.x, 1e-3), 0.0, 1.0) * 11.0;
    int i = min(int(t), 10);
    float edge = mix(u_tooth_edge[i], u_tooth_edge[i + 1], t - float(i));
    return max(u_tooth_edge_range.y * (p.y - edge), 0.0);
}

// The teeth are smooth bands in the head model: this draws the gaps between teeth, each tooth's face rounding off
// toward them, the notches the gaps open into at the tips, the tips' thin, grey-blue enamel, and the gum.
vec3 tooth_shade(vec3 p) {
    float depth = max(u_cavity_depth.x - u_cavity_depth.y, 1e-3);
    float angle = atan(abs(p.x), p.z - u_cavity_depth.y);  // 0 at the front, pi/2 at the back
    float arc = angle / 1.5708 * depth;                      // metres along the arch, scaled to this mouth
    float edge = 1.0;  // metres to the nearest gap between two teeth
    for (int i = 0; i < 8; ++i) {
        edge = min(edge, abs(arc - TOOTH_EDGES[i] * depth / ARCH_DEPTH));
    }
    float tip = tip_distance(p, angle);
    float near_tip = 1.0 - smoothstep(0.0, TIP_NOTCH, tip);
    // a thin dark seam where two teeth meet, widening and deepening into a notch toward the tips, and each tooth's
    // face rounding away toward it: a flat band with grey lines read as piano keys, a straight tip line as a plate
    float gap = mix(0.0006, 0.0016, near_tip);
    float seam = mix(mix(0.55, 0.25, near_tip), 1.0, smoothstep(0.0, gap, edge));
    float round_off = mix(0.68, 1.0, sqrt(smoothstep(0.0, 0.0025, edge)));
    vec3 enamel = mix(vec3(0.74, 0.80, 0.88), vec3(1.0), smoothstep(0.0, TIP_ENAMEL, tip));
    // the head model's tooth bands run on far past a crown, up (down) into the face: a lip raised in a broad
    // smile showed teeth twice as tall as teeth are. Beyond the crown, the gum, its line arching over each tooth
    float gum_line = CROWN_HEIGHT - PAPILLA * (1.0 - smoothstep(0.0, 0.003, edge));
    float gum = smoothstep(gum_line - 0.0004, gum_line + 0.0004, tip);
    return mix(seam * round_off * enamel, GUM, gum);
}
#endif

uniform sampler2D u_base_texture;
uniform float u_alpha_cutoff;
#if defined SHADE_PER_VERTEX && !defined LEVEL_TEXTURES
uniform float u_texture_lod;  // the mip level the renderer chose for this frame's scale
#endif
#if defined MATERIAL_HAIR
uniform float u_strand_luma;  // root mean square of the strands' texture values: the highlight follows the brighter ones
uniform float u_highlight_tint;  // renderer.HAIR_HIGHLIGHT_TINT
uniform float u_edge_ramp;  // > 0: blended edges (lashes), opaque this much alpha above the cutoff; 0: alpha test
#endif

out vec4 frag_color;

#if defined MATERIAL_HAIR
// A hair highlight is light glancing off strands, not a sheen over the surface: the brighter strands of the texture
// catch more of it, the darker gaps between them less, and it takes part of the hair's own colour.
vec3 strand_highlight(vec3 texel, vec3 albedo) {
    float strand = dot(texel, vec3(1.0 / 3.0)) / u_strand_luma;
    vec3 tint = albedo / max(max(albedo.r, albedo.g), max(albedo.b, 1e-4));
    return (strand * strand) * mix(vec3(1.0), tint, u_highlight_tint);
}
#endif

void main() {
#if defined SHADE_PER_VERTEX
#if defined LEVEL_TEXTURES
    // the renderer binds the mip level this frame's scale needs as a texture of its own (render/mip_levels.py)
    vec4 tex = textureLod(u_base_texture, v_uv, 0.0);
#else
    vec4 tex = textureLod(u_base_texture, v_uv, u_texture_lod);
#endif
#else
    vec4 tex = texture(u_base_texture, v_uv);
#endif
#if defined MATERIAL_HAIR
    float alpha = tex.a * u_base_color.a;
    if (alpha < u_alpha_cutoff) discard;
#endif
    vec3 albedo = srgb_to_linear(tex.rgb) * u_base_color.rgb;
#if defined MATERIAL_TEETH
    albedo *= tooth_shade(v_tooth);
#endif
#if defined SHADE_PER_VERTEX
    vec3 specular = v_specular;
#if defined MATERIAL_HAIR
    specular *= strand_highlight(tex.rgb, albedo);
#endif
    vec3 color = albedo * v_diffuse + specular;
#else
    vec3 n = normalize(v_normal);
    if (!gl_FrontFacing) n = -n;
    vec3 t = vec3(0.0);
#if defined MATERIAL_HAIR
    t = normalize(v_tangent);
#endif
    vec3 diffuse, specular;
    shade(n, normalize(u_camera_position - v_world), t, v_shape_z, v_occlusion, diffuse, specular);
#if defined MATERIAL_HAIR
    specular *= strand_highlight(tex.rgb, albedo);
#endif
    vec3 color = albedo * diffuse + specular;
#endif
    frag_color = vec4(to_display(color), 1.0);
#if defined MATERIAL_HAIR
    if (u_edge_ramp > 0.0) frag_color.a = min((alpha - u_alpha_cutoff) / u_edge_ramp, 1.0);
#endif
}
#endif
