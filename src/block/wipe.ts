// Fills the data segment with encrypted zeros, so that free space cannot be
// told apart from used space on the raw device (cryptsetup leaves old contents
// in place; this is homecrypt's `format --wipe`).
import type { Device } from './device.js';
import { VolumeFile } from './volume-file.js';
import { throwIfInterrupted, yieldToSignals } from '../os/interrupt.js';

const CHUNK = 1 << 20;

/** Async only to let Ctrl-C in between chunks (src/os/interrupt.ts): an interrupted wipe is done again from the start. */
export async function wipeSegment(
  dev: Device,
  segmentOffset: number,
  length: number,
  key: Buffer,
  sectorSize: number,
  ivTweak: number,
  onProgress: (done: number, total: number) => void,
): Promise<void> {
  const vf = new VolumeFile(dev, segmentOffset, length, key, sectorSize, ivTweak);
  const zeros = Buffer.alloc(CHUNK);
  for (let pos = 0; pos < length; pos += CHUNK) {
    zeros.fill(0);
    vf.write(pos, zeros.subarray(0, Math.min(CHUNK, length - pos)));
    onProgress(Math.min(length, pos + CHUNK), length);
    await yieldToSignals();
    throwIfInterrupted();
  }
  vf.flush();
}
