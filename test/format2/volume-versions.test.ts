// New volumes are format 2; a format-1 volume keeps reading and writing
// format-1 files, and its mount says so in one line.
import { afterAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { hc, makeVolume, PASS, type TestVolume } from '../engine/volume-helper.js';
import { readVolumeConfig } from '../../src/engine/volume.js';
import { gatherVolumeKeys } from '../../src/engine/volume-keys.js';
import { serializeVolumeConfig } from '../../src/format/volume-config.js';
import { LAYOUT_V1, LAYOUT_V2 } from '../../src/format/block-offsets.js';

describe.skipIf(skipUnless('fuse', 'volume version tests'))('volume format versions', () => {
  const vols: TestVolume[] = [];
  afterAll(() => {
    for (const v of vols) {
      try {
        v.umount();
      } catch {
        /* not mounted */
      } finally {
        v.cleanup();
      }
    }
  });

  it('init makes a format-2 volume: files get the write record slot, the mount says nothing about formats', () => {
    const v = makeVolume({ plaintextNames: true });
    vols.push(v);
    expect(readVolumeConfig(v.lower).version).toBe(2);
    const r = hc(['mount', v.lower, v.mnt, '--passphrase-fd', '0', '--log-file', v.logFile], `${PASS}\n`);
    expect(r.code).toBe(0);
    expect(r.stderr).not.toMatch(/volume format/);
    fs.writeFileSync(join(v.mnt, 'f'), 'hello');
    expect(fs.statSync(join(v.lower, 'f')).size).toBe(LAYOUT_V2.lowerSizeOf(5));
    expect(fs.readFileSync(join(v.lower, 'f')).readUInt16BE(4)).toBe(2);
    v.umount();
  });

  it('a format-1 volume mounts with a one-line note and keeps writing format-1 files', async () => {
    const v = makeVolume({ plaintextNames: true });
    vols.push(v);
    const config = readVolumeConfig(v.lower);
    const keys = await gatherVolumeKeys(v.lower, config, { secret: async () => Buffer.from(PASS), noKeyring: true });
    fs.writeFileSync(join(v.lower, 'homecrypt.conf'), serializeVolumeConfig({ ...config, version: 1 }, keys[0]!));
    const r = hc(['mount', v.lower, v.mnt, '--passphrase-fd', '0', '--log-file', v.logFile], `${PASS}\n`);
    expect(r.code).toBe(0);
    expect(r.stderr.split('\n').filter((l) => /volume format 1, opened read-write/.test(l))).toHaveLength(1);
    expect(r.stderr).toMatch(/a crash during a write can leave a block unreadable/);
    expect(v.log()).toMatch(/volume format 1, opened read-write/);
    fs.writeFileSync(join(v.mnt, 'f'), 'hello');
    expect(fs.statSync(join(v.lower, 'f')).size).toBe(LAYOUT_V1.lowerSizeOf(5));
    expect(fs.readFileSync(join(v.lower, 'f')).readUInt16BE(4)).toBe(1);
    expect(fs.readFileSync(join(v.mnt, 'f'), 'utf8')).toBe('hello');
    v.umount();
  });
});
