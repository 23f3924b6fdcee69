// `homecrypt block dump` prints what `cryptsetup luksDump` prints for the same
// header, byte for byte (keyslots of both KDFs, a gap in the slot numbers, a
// preferred slot, a token, 512-byte sectors, a label), and `--json` gives the
// facts cryptsetup's own JSON metadata holds.
import { afterAll, describe, expect, it } from 'vitest';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cryptsetup, hc, sh, tempDir } from './helpers.js';

const tmp = tempDir('dump');
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const hasCryptsetup = cryptsetup(['--version']).code === 0;

function image(name: string): string {
  const p = join(tmp, name);
  sh(`truncate -s 32M '${p}'`);
  return p;
}

function cs(args: string[], key?: string): string {
  const r = cryptsetup(args, key);
  if (r.code !== 0) throw new Error(`cryptsetup ${args.join(' ')}: ${r.out}`);
  return r.out;
}

describe.skipIf(!hasCryptsetup)('block dump', () => {
  it('a volume cryptsetup made: the same text as cryptsetup luksDump', () => {
    const img = image('cs.img');
    const k2 = join(tmp, 'k2');
    writeFileSync(k2, 'second passphrase');
    cs(
      [
        'luksFormat',
        '--type',
        'luks2',
        '-q',
        '--pbkdf',
        'pbkdf2',
        '--pbkdf-force-iterations',
        '1000',
        '--sector-size',
        '512',
        '--label',
        'photos',
        '--key-file',
        '-',
        img,
      ],
      'first passphrase',
    );
    cs(
      ['luksAddKey', '-q', '--key-file', '-', '--pbkdf', 'argon2i', '--pbkdf-force-iterations', '4', '--pbkdf-memory', '1024', '--key-slot', '3', img, k2],
      'first passphrase',
    );
    cs(['luksAddKey', '-q', '--key-file', '-', '--pbkdf', 'pbkdf2', '--pbkdf-force-iterations', '1000', '--key-slot', '5', img, k2], 'first passphrase');
    cs(['luksKillSlot', '-q', '--key-file', k2, img, '0']);
    cs(['token', 'import', img, '--token-id', '2'], '{"type":"homecrypt-test","keyslots":["3"]}');
    cs(['config', img, '--priority', 'prefer', '--key-slot', '3']);
    const r = hc(['block', 'dump', img]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(cs(['luksDump', img]));
    expect(r.stdout).toContain('  5: luks2');
  });

  it('a volume homecrypt made, with a recovery slot: the same text; --json holds what the JSON metadata holds', () => {
    const img = image('hc.img');
    expect(hc(['block', 'format', img, '--kdf-time', '0.05', '--recovery', '--label', 'docs', '-q'], ['a passphrase']).code).toBe(0);
    const r = hc(['block', 'dump', img]);
    expect(r.stdout).toBe(cs(['luksDump', img]));
    const mine = JSON.parse(hc(['block', 'dump', img, '--json']).stdout);
    const theirs = JSON.parse(cs(['luksDump', '--dump-json-metadata', img]));
    expect(mine.keyslots.map((k: { id: number }) => String(k.id))).toEqual(Object.keys(theirs.keyslots));
    for (const k of mine.keyslots) {
      const t = theirs.keyslots[String(k.id)];
      expect(k.kdf.salt).toBe(t.kdf.salt);
      expect(k.areaOffset).toBe(Number(t.area.offset));
      expect(k.keyBits).toBe(t.key_size * 8);
    }
    expect(mine.digests[0].digest).toBe(theirs.digests['0'].digest);
    expect(mine.digests[0].keyslots).toEqual(theirs.digests['0'].keyslots.map(Number));
    expect(mine.segments[0].offset).toBe(Number(theirs.segments['0'].offset));
    expect(mine.segments[0].sectorSize).toBe(theirs.segments['0'].sector_size);
    expect(mine.label).toBe('docs');
  });

  it('not a LUKS2 device: one line, exit 4; a missing one: exit 2', () => {
    const img = image('plain.img');
    const r = hc(['block', 'dump', img]);
    expect(r.code).toBe(4);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(hc(['block', 'dump', join(tmp, 'nope')]).code).toBe(2);
    const j = hc(['block', 'dump', join(tmp, 'nope'), '--json']);
    expect(JSON.parse(j.stderr).error.exitCode).toBe(2);
  });
});
