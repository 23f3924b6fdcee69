// wrapped-passphrase files, checked both ways against Debian's ecryptfs-utils
// (ecryptfs-wrap-passphrase, -unwrap-passphrase, -rewrap-passphrase).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, VECTORS } from '../helpers/ecryptfs.js';
import { parseWrappedPassphrase, serializeWrappedPassphrase, unwrapPassphrase, wrapPassphrase } from '../../src/format/ecryptfs/wrapped-passphrase.js';
import { rewrapPassphraseFile, unwrapPassphraseFile, writeWrappedPassphraseFile } from '../../src/ecryptfs/wrapped-passphrase-file.js';
import { DEFAULT_SALT } from '../../src/format/ecryptfs/constants.js';
import { CorruptFileError, UnsupportedFormatError, WrongPassphraseError } from '../../src/errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-wp-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const realUnwrap = (file: string, login: string) => spawnSync('ecryptfs-unwrap-passphrase', [file, '-'], { input: login, encoding: 'utf8' });
const realWrap = (file: string, mount: string, login: string) => execFileSync('ecryptfs-wrap-passphrase', [file, '-'], { input: `${mount}\n${login}` });

// lengths around the AES block size and the 64-byte maximum
const PASSPHRASES = ['a', 'sixteen-chars-xy', 'seventeen-chars-x', 'M'.repeat(64)];

describe('wrapped-passphrase vectors', () => {
  it('reads the version 2 file ecryptfs-wrap-passphrase wrote', () => {
    const w = parseWrappedPassphrase(readFileSync(join(VECTORS, 'wrapped-passphrase-v2')));
    expect(w.version).toBe(2);
    expect(w.salt).toHaveLength(8);
    expect(unwrapPassphrase(w, Buffer.from('VectorLoginPass2')).toString()).toBe('VectorMountPass1');
  });

  it('reads the version 1 vector (default salt), which ecryptfs-unwrap-passphrase also reads', () => {
    const f = join(VECTORS, 'wrapped-passphrase-v1');
    const w = parseWrappedPassphrase(readFileSync(f));
    expect(w.version).toBe(1);
    expect(unwrapPassphrase(w, Buffer.from('VectorLoginPass2'), DEFAULT_SALT).toString()).toBe('VectorMountPass1');
    expect(realUnwrap(f, 'VectorLoginPass2').stdout.trim()).toBe('VectorMountPass1');
  });

  it('a wrong login passphrase is WrongPassphraseError', () => {
    const w = parseWrappedPassphrase(readFileSync(join(VECTORS, 'wrapped-passphrase-v2')));
    expect(() => unwrapPassphrase(w, Buffer.from('nope'))).toThrow(WrongPassphraseError);
  });

  it('serializes back to the same bytes', () => {
    for (const v of ['wrapped-passphrase-v1', 'wrapped-passphrase-v2']) {
      const b = readFileSync(join(VECTORS, v));
      expect(serializeWrappedPassphrase(parseWrappedPassphrase(b))).toEqual(b);
    }
  });

  it('refuses corrupt and foreign files with clear errors', () => {
    const v2 = readFileSync(join(VECTORS, 'wrapped-passphrase-v2'));
    expect(() => parseWrappedPassphrase(v2.subarray(0, 20), 'f')).toThrow(CorruptFileError);
    expect(() => parseWrappedPassphrase(v2.subarray(0, 26), 'f')).toThrow(/no encrypted passphrase/);
    expect(() => parseWrappedPassphrase(v2.subarray(0, 33), 'f')).toThrow(/must be 16, 32, 48 or 64/);
    const v3 = Buffer.from(v2);
    v3[1] = 3;
    expect(() => parseWrappedPassphrase(v3, 'f')).toThrow(UnsupportedFormatError);
    expect(() => parseWrappedPassphrase(Buffer.from('zzzzzzzzzzzzzzzz0123456789abcdef'), 'f')).toThrow(/16 hex/);
    expect(() => parseWrappedPassphrase(Buffer.concat([v2, Buffer.alloc(64)]), 'f')).toThrow(CorruptFileError);
  });
});

describe('against ecryptfs-utils', () => {
  it('ecryptfs-unwrap-passphrase reads what homecrypt wraps (version 2, mode 0600)', () => {
    for (const [i, p] of PASSPHRASES.entries()) {
      const f = join(dir, `hc-${i}`);
      writeWrappedPassphraseFile(f, Buffer.from(p), Buffer.from(`login-${i}`));
      expect(statSync(f).mode & 0o777).toBe(0o600);
      expect(readFileSync(f).subarray(0, 2)).toEqual(Buffer.from([0x3a, 2]));
      const r = realUnwrap(f, `login-${i}`);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.replace(/\n$/, '')).toBe(p);
      if (i === 0) expect(realUnwrap(f, 'wrong').status).not.toBe(0);
    }
  });

  it('homecrypt reads what ecryptfs-wrap-passphrase writes', () => {
    for (const [i, p] of PASSPHRASES.entries()) {
      const f = join(dir, `real-${i}`);
      realWrap(f, p, `login-${i}`);
      expect(unwrapPassphraseFile(f, Buffer.from(`login-${i}`)).toString()).toBe(p);
      if (i === 0) expect(() => unwrapPassphraseFile(f, Buffer.from('wrong'))).toThrow(WrongPassphraseError);
    }
  });

  it('rewrap both ways, including version 1 -> 2', () => {
    const f = join(dir, 'rewrap');
    writeFileSync(f, readFileSync(join(VECTORS, 'wrapped-passphrase-v1')));
    chmodSync(f, 0o600);
    rewrapPassphraseFile(f, Buffer.from('VectorLoginPass2'), Buffer.from('second login'));
    expect(parseWrappedPassphrase(readFileSync(f)).version).toBe(2);
    expect(realUnwrap(f, 'second login').stdout.trim()).toBe('VectorMountPass1');
    execFileSync('ecryptfs-rewrap-passphrase', [f, '-'], { input: 'second login\nthird login' });
    expect(unwrapPassphraseFile(f, Buffer.from('third login')).toString()).toBe('VectorMountPass1');
    expect(() => rewrapPassphraseFile(f, Buffer.from('second login'), Buffer.from('x'))).toThrow(WrongPassphraseError);
    expect(unwrapPassphraseFile(f, Buffer.from('third login')).toString()).toBe('VectorMountPass1');
  });

  it('wrapping uses a fresh salt each time (version 2)', () => {
    const a = wrapPassphrase(Buffer.from('same'), Buffer.from('login'), Buffer.alloc(8, 1));
    const b = wrapPassphrase(Buffer.from('same'), Buffer.from('login'), Buffer.alloc(8, 2));
    expect(a.sig).not.toBe(b.sig);
    expect(a.encrypted.equals(b.encrypted)).toBe(false);
  });
});

describe('homecrypt ecryptfs wrap/unwrap/rewrap-passphrase', () => {
  it('round-trips through the CLI with --passphrase-fd, wrong passphrase exits 3', () => {
    const f = join(dir, 'cli');
    execFileSync(BIN, ['ecryptfs', 'wrap-passphrase', f, '--passphrase-fd', '0'], { input: 'cli mount pass\ncli login\n' });
    expect(realUnwrap(f, 'cli login').stdout.trim()).toBe('cli mount pass');
    execFileSync(BIN, ['ecryptfs', 'rewrap-passphrase', f, '--passphrase-fd', '0'], { input: 'cli login\nnew login\n' });
    const out = execFileSync(BIN, ['ecryptfs', 'unwrap-passphrase', f, '--passphrase-fd', '0'], { input: 'new login\n', encoding: 'utf8' });
    expect(out).toBe('cli mount pass\n');
    const bad = spawnSync(BIN, ['ecryptfs', 'unwrap-passphrase', f, '--passphrase-fd', '0'], { input: 'cli login\n', encoding: 'utf8' });
    expect(bad.status).toBe(3);
    expect(bad.stderr).toMatch(/wrong login passphrase/);
    expect(bad.stderr).not.toMatch(/at .*\.js/);
  });
});
