/** 'VZC1' read as a little-endian u32: a piece of a message split to fit a data channel. */
const FRAGMENT_MAGIC = 0x3143_5a56;
export const FRAGMENT_HEADER_BYTES = 16;
const TEXT_FLAG = 0x01;
/** Split messages held unfinished at once; a newer one pushes out the oldest (its lost pieces lose it). */
export const MAX_PARTIAL_MESSAGES = 8;
/** Largest message put back together (the protocol's field frame limit, 64 MiB). */
export const MAX_JOINED_BYTES = 64 << 20;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Joins the pieces of messages the server split to fit a WebRTC data channel (docs/protocol.md
 * "WebRTC", vizserver/protocol/fragments.py): each piece is a binary message, a 16-byte header (magic
 * `VZC1`, u32 message id, u16 index, u16 count, u8 flags: 0x01 text) then a slice of the message.
 * Pieces may come in any order (the `fields` channel is unordered) or never (it does not retransmit);
 * one joiner per channel, bounded. Anything that is not a piece passes through unchanged.
 */
export class FragmentJoiner {
  constructor({ maxPartial = MAX_PARTIAL_MESSAGES, maxBytes = MAX_JOINED_BYTES } = {}) {
    this.maxPartial = maxPartial;
    this.maxBytes = maxBytes;
    /** message id -> {count, text, pieces: Map<index, Uint8Array>, bytes} in first-seen order. */
    this.partial = new Map();
    this.dropped = 0;
  }

  static isPiece(data) {
    return data instanceof ArrayBuffer && data.byteLength >= FRAGMENT_HEADER_BYTES
      && new DataView(data).getUint32(0, true) === FRAGMENT_MAGIC;
  }

  /**
   * The message `data` completes (a string for text, an ArrayBuffer for binary), `data` itself when it
   * is not a piece, or null while pieces are missing. Throws on a piece that contradicts its message.
   */
  add(data) {
    if (!FragmentJoiner.isPiece(data)) return data;
    const view = new DataView(data);
    const id = view.getUint32(4, true);
    const index = view.getUint16(8, true);
    const count = view.getUint16(10, true);
    const text = (view.getUint8(12) & TEXT_FLAG) !== 0;
    if (count < 2 || index >= count) throw new Error(`fragment ${index}/${count} of message ${id}: bad header`);
    let message = this.partial.get(id);
    if (!message) {
      message = { count, text, pieces: new Map(), bytes: 0 };
      this.partial.set(id, message);
      if (this.partial.size > this.maxPartial) {
        this.partial.delete(this.partial.keys().next().value);
        this.dropped += 1;
      }
    } else if (message.count !== count || message.text !== text) {
      this.partial.delete(id);
      throw new Error(`fragment ${index} of message ${id} disagrees with its other pieces`);
    }
    if (message.pieces.has(index)) return null;
    const slice = new Uint8Array(data, FRAGMENT_HEADER_BYTES);
    message.pieces.set(index, slice);
    message.bytes += slice.byteLength;
    if (message.bytes > this.maxBytes) {
      this.partial.delete(id);
      throw new Error(`split message ${id} is over ${this.maxBytes} bytes`);
    }
    if (message.pieces.size < message.count) return null;
    this.partial.delete(id);
    const joined = new Uint8Array(message.bytes);
    let at = 0;
    for (let i = 0; i < message.count; i += 1) {
      const piece = message.pieces.get(i);
      joined.set(piece, at);
      at += piece.byteLength;
    }
    return message.text ? utf8.decode(joined) : joined.buffer;
  }

  clear() {
    this.partial.clear();
  }
}
