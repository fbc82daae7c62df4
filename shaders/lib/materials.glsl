// Light transport per material kind, written once and evaluated either per pixel or per vertex (SHADE_PER_VERTEX).
// Each returns the light that multiplies the albedo (`diffuse`) and the light added on top (`specular`), so the
// per-vertex path can interpolate both and still take the albedo from the texture per pixel.
#include "lib/lighting.glsl"

uniform vec2 u_cavity_depth;   // rest-space z of the mouth's front and back: darkens what lies deep inside
uniform float u_mouth_light;   // share of the mouth's baked light the lips' opening lets in (render/lip_gap.py)
uniform float u_roughness;
uniform vec4 u_base_color;

// Baked ambient occlusion dims the sky fully and the lights where the point is deep in a cavity (no shadow maps).
float direct_occlusion(float ao) { return smoothstep(0.05, 0.65, ao); }

void shade_skin(vec3 n, vec3 v, float ao, out vec3 diffuse, out vec3 specular) {
    // Per-channel wrap lighting stands in for subsurface scattering: red light reaches further round.
    const vec3 wrap = vec3(0.42, 0.22, 0.16);
    float fresnel = fresnel_schlick(0.028, n, v);
    // a rough surface's Fresnel rises at grazing views only to 1 - roughness (Lagarde's fit): reaching 1, the
    // underside of the neck glared white under the rim light in every view from behind or below
    float sheen = 0.028 + (max(1.0 - u_roughness, 0.028) - 0.028) * (fresnel - 0.028) / 0.972;
    diffuse = vec3(0.0);
    specular = vec3(0.0);
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        float nl = dot(n, u_light_dirs[i]);
        vec3 wrapped = clamp((vec3(nl) + wrap) / (1.0 + wrap), 0.0, 1.0);
        diffuse += u_light_colors[i] * (wrapped * wrapped) * ((1.0 - fresnel) / PI);  // squared: soft, not flat
        specular += u_light_colors[i] * (2.0 * ggx_specular(n, v, u_light_dirs[i], u_roughness) * sheen);
    }
    float shadow = direct_occlusion(ao);
    diffuse = diffuse * shadow + ambient(n) * (0.9 * ao);
    float grazing = 1.0 - max(dot(n, v), 0.0);
    specular = (specular + 0.06 * grazing * grazing * grazing * u_sky_color) * shadow;  // + velvet sheen
}

uniform mat3 u_socket;  // world from the eye sockets' frame (the head joint's, with the model matrix)

void shade_eye(vec3 n, vec3 v, float ao, out vec3 diffuse, out vec3 specular) {
    // The eyeball sits in its socket: the upper lid and brow shade its top, the lids' corners its sides. Both are
    // measured in the head's frame, so a tilted head keeps them where the lids are; the eye's own turn moves them.
    vec3 s = n * u_socket;  // transpose(u_socket) * n
    float lid_shadow = mix(0.55, 1.0, smoothstep(0.55, -0.1, s.y)) * mix(0.78, 1.0, smoothstep(0.72, 0.28, abs(s.x)));
    float fresnel = fresnel_schlick(0.04, n, v);
    diffuse = vec3(0.0);
    specular = vec3(0.0);
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        float nl = max(dot(n, u_light_dirs[i]), 0.0);
        diffuse += u_light_colors[i] * ((0.25 + 0.75 * nl) / PI * lid_shadow);
        specular += u_light_colors[i] * (2.5 * ggx_specular(n, v, u_light_dirs[i], u_roughness) * fresnel);
    }
    float shadow = direct_occlusion(ao);
    diffuse = diffuse * shadow + ambient(n) * (lid_shadow * ao);
    specular *= shadow;
}

void shade_hair(vec3 n, vec3 v, vec3 t, float ao, out vec3 diffuse, out vec3 specular) {
    diffuse = vec3(0.0);
    specular = vec3(0.0);
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        vec3 l = u_light_dirs[i];
        // Kajiya-Kay: two lobes shifted along the normal, the second tinted by the hair colour
        vec3 h = normalize(l + v);
        vec3 t1 = normalize(t + 0.08 * n);
        vec3 t2 = normalize(t - 0.12 * n);
        float th1 = dot(t1, h), th2 = dot(t2, h);
        // a broad, faint primary lobe: a narrow bright one (sin^90) drew a glossy ring round the head with a dark
        // band under it, which read as a helmet, not hair
        float s1 = pow(max(1.0 - th1 * th1, 0.0), 12.0);  // sin^24 written as (1 - cos^2)^12
        float s2 = pow(max(1.0 - th2 * th2, 0.0), 9.0);
        float facing = smoothstep(-0.1, 0.3, dot(n, l));
        // the second lobe is tinted by the hair colour, so it joins the light that multiplies the albedo
        diffuse += u_light_colors[i] * (mix(0.3, 1.0, clamp(dot(n, l) * 0.5 + 0.5, 0.0, 1.0)) / PI
                                        + facing * 0.12 * s2);
        specular += u_light_colors[i] * (facing * 0.012 * s1);
    }
    float shadow = mix(0.35, 1.0, ao);  // hair is thin: light gets through even deep inside
    diffuse = diffuse * shadow + ambient(n) * (0.8 * ao);
    specular *= shadow;
}

void shade_mouth(vec3 n, vec3 v, float shape_z, float ao, out vec3 diffuse, out vec3 specular) {
    // the lips and cheeks shade the whole mouth, the more the deeper inside (shape_z: rest-space depth with the
    // expression's shapes applied)
#if defined MATERIAL_TONGUE
    // Inside the mouth the tongue takes one sky share, TONGUE_INSIDE_AO, not its baked occlusion. That was baked with
    // the jaw barely open, under the teeth and palate, over a coarse mesh: seen through a wide-open mouth it drew
    // faceted dark blotches like a face on the tongue. Its depth in the mouth (`cavity` below) still shades it.
    // Stuck out past the lips (1-2 cm before its resting tip, the cavity's front here) it is in the open.
    const float TONGUE_INSIDE_AO = 0.15;
    float outside = smoothstep(u_cavity_depth.x + 0.006, u_cavity_depth.x + 0.018, shape_z);
    ao = mix(TONGUE_INSIDE_AO, 1.0, outside);
    // the tongue lies low in the mouth's shadow, and behind shut lips in the dark
    float open_sky = mix(0.1, 1.0, ao) * mix(u_mouth_light, 1.0, outside);
#else
    // teeth: tooth_light in avatar.glsl (the baked occlusion lifted, the inner side darker); shut lips let in little
    // of it, and the incisors' edges showed through the slit between resting lips as a white line
    float open_sky = ao * u_mouth_light;
#endif
    float cavity = 0.7 * mix(0.18, 1.0, smoothstep(u_cavity_depth.y, u_cavity_depth.x, shape_z)) * open_sky;
    diffuse = vec3(0.0);
    specular = vec3(0.0);
    for (int i = 0; i < LIGHT_COUNT; ++i) {
        float nl = max(dot(n, u_light_dirs[i]), 0.0);
        diffuse += u_light_colors[i] * (nl / PI * cavity);
        specular += u_light_colors[i] * (0.4 * ggx_specular(n, v, u_light_dirs[i], u_roughness)
                                         * fresnel_schlick(0.04, n, v) * cavity);
    }
    diffuse += ambient(n) * cavity * 0.8;
}

// The material chosen by the program's define.
void shade(vec3 n, vec3 v, vec3 t, float shape_z, float ao, out vec3 diffuse, out vec3 specular) {
#if defined MATERIAL_SKIN
    shade_skin(n, v, ao, diffuse, specular);
#elif defined MATERIAL_EYE
    shade_eye(n, v, ao, diffuse, specular);
#elif defined MATERIAL_HAIR
    shade_hair(n, v, t, ao, diffuse, specular);
#else  // MATERIAL_TEETH, MATERIAL_TONGUE
    shade_mouth(n, v, shape_z, ao, diffuse, specular);
#endif
}
