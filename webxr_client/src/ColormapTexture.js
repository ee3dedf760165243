import * as THREE from 'three';
import { CATEGORICAL_MAPS, COLORMAP_TABLES } from './colormapTables.js';

/** Texels of a continuous map's texture; the shader samples it with linear filtering. */
export const COLORMAP_TEXELS = 256;

/**
 * The 1D colour maps as textures the field shader samples (one texture per map, made on first use
 * and shared by every material), and as RGBA tables the colour bar paints from.
 */
export class ColormapTexture {
  static get names() {
    return Object.keys(COLORMAP_TABLES);
  }

  static isCategorical(name) {
    return CATEGORICAL_MAPS.has(name);
  }

  /** A known map name: `name` itself, or 'viridis' for an unknown one (a scene may name any). */
  static resolve(name, categorical = false) {
    if (categorical) return 'categorical';
    return name in COLORMAP_TABLES ? name : 'viridis';
  }

  /** RGBA bytes of map `name`: 256 texels for a continuous map, one per label for a categorical one. */
  static table(name) {
    const anchors = COLORMAP_TABLES[name].map((hex) => [0, 2, 4].map((k) => parseInt(hex.slice(k, k + 2), 16)));
    const texels = CATEGORICAL_MAPS.has(name) ? anchors.length : COLORMAP_TEXELS;
    const rgba = new Uint8Array(texels * 4);
    for (let i = 0; i < texels; i++) {
      let rgb;
      if (CATEGORICAL_MAPS.has(name)) {
        rgb = anchors[i];
      } else {
        const x = (i / (texels - 1)) * (anchors.length - 1);
        const k = Math.min(Math.floor(x), anchors.length - 2);
        const f = x - k;
        rgb = anchors[k].map((c, j) => Math.round(c + (anchors[k + 1][j] - c) * f));
      }
      rgba.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
    }
    return rgba;
  }

  constructor() {
    /** @type {Map<string, THREE.DataTexture>} */
    this.textures = new Map();
  }

  /** The shared texture of map `name` (unknown names give viridis). */
  texture(name) {
    const key = name in COLORMAP_TABLES ? name : 'viridis';
    let texture = this.textures.get(key);
    if (!texture) {
      const rgba = ColormapTexture.table(key);
      texture = new THREE.DataTexture(rgba, rgba.length / 4, 1, THREE.RGBAFormat, THREE.UnsignedByteType);
      const filter = CATEGORICAL_MAPS.has(key) ? THREE.NearestFilter : THREE.LinearFilter;
      texture.magFilter = filter;
      texture.minFilter = filter;
      texture.wrapS = THREE.ClampToEdgeWrapping;
      texture.wrapT = THREE.ClampToEdgeWrapping;
      texture.colorSpace = THREE.SRGBColorSpace;
      texture.generateMipmaps = false;
      texture.needsUpdate = true;
      this.textures.set(key, texture);
    }
    return texture;
  }

  dispose() {
    for (const texture of this.textures.values()) texture.dispose();
    this.textures.clear();
  }
}
