// Studio lighting shared by every material: key, fill and rim lights plus a sky/ground ambient,
// GGX specular, and a filmic tone curve. All colours are linear until `to_display`.
const int LIGHT_COUNT = 3;
uniform vec3 u_light_dirs[LIGHT_COUNT];     // unit vectors from the surface toward each light, world space
uniform vec3 u_light_colors[LIGHT_COUNT];   // linear radiance
uniform vec3 u_sky_color;
uniform vec3 u_ground_color;
uniform vec3 u_camera_position;
uniform float u_exposure;

const float PI = 3.14159265;

// gamma 2 instead of 2.2: pow() is costly on software rasterisers and the difference is invisible after tone mapping
vec3 srgb_to_linear(vec3 c) { return c * c; }

vec3 ambient(vec3 n) {
    return mix(u_ground_color, u_sky_color, 0.5 + 0.5 * n.y);
}

float ggx_specular(vec3 n, vec3 v, vec3 l, float roughness) {
    vec3 h = normalize(v + l);
    float a = roughness * roughness;
    float a2 = a * a;
    float nh = max(dot(n, h), 0.0);
    float nv = max(dot(n, v), 1e-4);
    float nl = max(dot(n, l), 0.0);
    float q = nh * nh * (a2 - 1.0) + 1.0;
    float d = a2 / (PI * q * q);
    float k = (roughness + 1.0) * (roughness + 1.0) / 8.0;  // Smith-Schlick masking for point lights (Karis 2013)
    float g = nv / (nv * (1.0 - k) + k) * nl / (nl * (1.0 - k) + k);
    return d * g / max(4.0 * nv * nl, 1e-4) * nl;
}

float fresnel_schlick(float f0, vec3 n, vec3 v) {
    float x = 1.0 - max(dot(n, v), 0.0);
    float x2 = x * x;
    return f0 + (1.0 - f0) * x2 * x2 * x;
}

// ACES fit (Narkowicz 2015) then display gamma
vec3 to_display(vec3 c) {
    c *= u_exposure;
    c = clamp((c * (2.51 * c + 0.03)) / (c * (2.43 * c + 0.59) + 0.14), 0.0, 1.0);
    return sqrt(c);  // display gamma 2, matching srgb_to_linear
}
