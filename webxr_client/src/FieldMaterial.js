import * as THREE from 'three';

/** Colour of vertices with no data (NaN in the source, the top code on the wire). */
export const NODATA_COLOR = '#8c8c8c';
/** Attribute the shader reads: one normalized value per vertex, a view of a GLB field or a live stream. */
export const FIELD_ATTRIBUTE = 'vizField';

const VERTEX_DECLARATIONS = /* glsl */ `
attribute float ${FIELD_ATTRIBUTE};
uniform vec4 uVizDecode;
varying float vVizValue;
varying float vVizNoData;
`;
const VERTEX_BODY = /* glsl */ `
vVizValue = uVizDecode.x + uVizDecode.y * ${FIELD_ATTRIBUTE};
vVizNoData = ${FIELD_ATTRIBUTE} >= uVizDecode.z ? 1.0 : 0.0;
`;
const FRAGMENT_DECLARATIONS = /* glsl */ `
uniform float uVizUseField;
uniform sampler2D uVizColormap;
uniform vec2 uVizRange;
uniform float uVizLabels;
uniform vec3 uVizNoDataColor;
varying float vVizValue;
varying float vVizNoData;
vec3 vizFieldColor() {
  if ( vVizNoData > 0.5 ) return uVizNoDataColor;
  float u;
  if ( uVizLabels > 0.5 ) {
    u = ( mod( floor( vVizValue + 0.5 ), uVizLabels ) + 0.5 ) / uVizLabels;
  } else {
    float t = clamp( ( vVizValue - uVizRange.x ) / max( uVizRange.y - uVizRange.x, 1e-30 ), 0.0, 1.0 );
    u = ( t * 255.0 + 0.5 ) / 256.0;
  }
  return texture2D( uVizColormap, vec2( u, 0.5 ) ).rgb;
}
`;

/**
 * MeshStandardMaterial that colours each vertex by a scalar field on the GPU.
 *
 * The geometry's `vizField` attribute holds normalized codes `a` in [0, 1]; the vertex shader turns
 * them into values (`offset + scale * a`, no data when `a >= nodataAt`), the fragment shader maps
 * the value through the display range onto a 1D colour-map texture (or, for label fields, picks
 * label `round(value) mod labels`). Changing the range or the map only changes uniforms.
 */
export class FieldMaterial extends THREE.MeshStandardMaterial {
  constructor(parameters = {}) {
    super({ roughness: 0.65, metalness: 0.0, side: THREE.DoubleSide, ...parameters });
    this.vizUniforms = {
      uVizUseField: { value: 0 },
      uVizColormap: { value: null },
      uVizRange: { value: new THREE.Vector2(0, 1) },
      uVizLabels: { value: 0 },
      uVizNoDataColor: { value: new THREE.Color(NODATA_COLOR) },
      uVizDecode: { value: new THREE.Vector4(0, 1, 2, 0) },
    };
  }

  onBeforeCompile(shader) {
    Object.assign(shader.uniforms, this.vizUniforms);
    shader.vertexShader = shader.vertexShader
      .replace('#include <common>', `#include <common>\n${VERTEX_DECLARATIONS}`)
      .replace('#include <begin_vertex>', `#include <begin_vertex>\n${VERTEX_BODY}`);
    shader.fragmentShader = shader.fragmentShader
      .replace('#include <common>', `#include <common>\n${FRAGMENT_DECLARATIONS}`)
      .replace(
        'vec4 diffuseColor = vec4( diffuse, opacity );',
        'vec4 diffuseColor = vec4( uVizUseField > 0.5 ? vizFieldColor() : diffuse, opacity );',
      );
  }

  customProgramCacheKey() {
    return 'vizserver-field-1';
  }

  /** How codes become values: `value = offset + scale * a`, no data where `a >= nodataAt` (> 1: none). */
  setDecode(offset, scale, nodataAt) {
    this.vizUniforms.uVizDecode.value.set(offset, scale, nodataAt, 0);
  }

  /** Colour by the field (`texture` over `[lo, hi]`, or `labels` > 0 categories) or, with null, by `color`. */
  setDisplay(texture, lo, hi, labels = 0) {
    const u = this.vizUniforms;
    u.uVizUseField.value = texture ? 1 : 0;
    u.uVizColormap.value = texture;
    u.uVizRange.value.set(lo, hi);
    u.uVizLabels.value = labels;
  }

  /** Opacity below 1 draws the object see-through (sorted, no depth writes). */
  setOpacity(opacity) {
    this.opacity = opacity;
    const transparent = opacity < 0.999;
    if (transparent !== this.transparent) {
      this.transparent = transparent;
      this.depthWrite = !transparent;
      this.needsUpdate = true;
    }
  }
}
