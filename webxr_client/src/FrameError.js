/** A binary field frame that breaks docs/protocol.md; the message names the problem in one line. */
export class FrameError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FrameError';
  }
}
