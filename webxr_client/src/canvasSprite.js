import * as THREE from 'three';

/**
 * A text label for the headset: a canvas drawn by the caller, shown as a sprite that faces the viewer,
 * drawn over everything and never hit by rays. ``heightM`` is its height in metres.
 */
export function canvasSprite({ width, height, heightM, name, renderOrder }) {
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  const texture = new THREE.CanvasTexture(canvas);
  texture.colorSpace = THREE.SRGBColorSpace;
  const material = new THREE.SpriteMaterial({ map: texture, depthTest: false, transparent: true });
  const sprite = new THREE.Sprite(material);
  sprite.name = name;
  sprite.scale.set((heightM * width) / height, heightM, 1);
  sprite.renderOrder = renderOrder;
  sprite.visible = false;
  sprite.raycast = () => {};
  return { canvas, context: canvas.getContext('2d'), texture, material, sprite };
}
