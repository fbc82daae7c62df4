// The vertex stage of a full-viewport quad drawn as a 4-vertex triangle strip with no attributes: v_uv runs 0-1
// over it. QUAD_DEPTH (define before including) places it in depth; 0 by default.
#ifndef QUAD_DEPTH
#define QUAD_DEPTH 0.0
#endif
out vec2 v_uv;
void main() {
    vec2 corner = vec2(float(gl_VertexID & 1), float(gl_VertexID >> 1));
    v_uv = corner;
    gl_Position = vec4(corner * 2.0 - 1.0, QUAD_DEPTH, 1.0);
}
