// The volume format version: new volumes are format 2, format-1 volumes keep
// opening read-write, the mount says which it opened, and a version this code
// does not know is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openVolume, readVolumeConfig } from '../../src/engine/volume.js';
import { skipUnless } from '../helpers/requirements.js';
import { makeVolume, type TestVolume } from '../engine/volume-helper.js';

const fixtures = new URL('../vectors/files/', import.meta.url).pathname;
const V1 = JSON.parse(readFileSync(join(fixtures, 'vectors-v1.json'), 'utf8'));

describe('volume format version', () => {
  it('a format-1 fixture opens as format 1, names and files as before', () => {
    const vol = openVolume(join(fixtures, 'tree-v1'), [Buffer.from(V1.mountKey, 'hex')]);
    expect(vol.formatVersion).toBe(1);
    expect(vol.format.formatVersion).toBe(1);
    expect(vol.format.name).toBe('homecrypt-v1');
  });

  it('a config of an unknown version is refused, not guessed', () => {
    const dir = mkdtempSync('/tmp/hc-fmt-version-');
    try {
      cpSync(join(fixtures, 'tree-v1'), dir, { recursive: true });
      const conf = join(dir, 'homecrypt.conf');
      writeFileSync(conf, readFileSync(conf, 'utf8').replace('"version": 1', '"version": 3'));
      expect(() => readVolumeConfig(dir)).toThrow(/version 3 is not supported/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'format-2 volumes through the CLI'))('a new volume', () => {
  let v: TestVolume;
  beforeAll(() => {
    v = makeVolume({ loopMiB: 32 });
    v.mount();
  });
  afterAll(() => v?.cleanup());

  it('is format 2, and its mount says so in the log', () => {
    expect(JSON.parse(readFileSync(join(v.lower, 'homecrypt.conf'), 'utf8')).version).toBe(2);
    expect(v.log()).toMatch(/homecrypt: volume format 2$/m);
    writeFileSync(join(v.mnt, 'f'), 'hello');
    expect(readFileSync(join(v.mnt, 'f'), 'utf8')).toBe('hello');
  });
});
