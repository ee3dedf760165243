// Decode field frames with the browser client's own FrameDecoder and print what it made of them.
//
// Usage: node tests/tools/decode_frames.mjs FILE
// FILE holds frames back to back, each preceded by its length as a little-endian u32.
// Prints a JSON array, one entry per frame: {"kind", "object", "field", "step", "sequence",
// "time", "values": [...] (null for NaN)} for a decoded frame, {"kind": "need-keyframe" | "dropped",
// "object", "field"}, or {"kind": "error", "message"} for a frame the decoder refused.
import { readFile } from "node:fs/promises";
import { FrameDecoder } from "../../webxr_client/src/FrameDecoder.js";

const data = new Uint8Array(await readFile(process.argv[2]));
const decoder = new FrameDecoder({ now: () => 0 });
const out = [];
for (let at = 0; at < data.length; ) {
  const length = new DataView(data.buffer, data.byteOffset + at, 4).getUint32(0, true);
  const frame = data.slice(at + 4, at + 4 + length);
  at += 4 + length;
  try {
    const result = decoder.decode(frame.buffer);
    if (result.kind !== "frame") {
      out.push(result);
      continue;
    }
    const { track } = result;
    const values = Array.from(track.toValues(), (v) => (Number.isNaN(v) ? null : v));
    out.push({ kind: "frame", object: track.object, field: track.field, step: track.step,
      sequence: track.sequence, time: track.time, values });
  } catch (error) {
    out.push({ kind: "error", message: error.message });
  }
}
process.stdout.write(JSON.stringify(out));
