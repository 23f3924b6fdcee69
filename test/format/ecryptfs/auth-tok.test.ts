// The auth token payloads (src/format/ecryptfs/auth-tok.ts) against the ones
// ecryptfs-add-passphrase --fnek put in the keyring of Debian's real eCryptfs
// kernel, piped out in refvm (test/vectors/ecryptfs/authtok-<sig>.bin).
import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { authTokForPassphrase, parseAuthTok } from '../../../src/format/ecryptfs/auth-tok.js';
import { DEFAULT_SALT, FNEK_SALT } from '../../../src/format/ecryptfs/constants.js';

const VECTORS = new URL('../../vectors/ecryptfs/', import.meta.url).pathname;

describe('auth token payload vectors (made in refvm by ecryptfs-add-passphrase --fnek)', () => {
  const [sig, fnekSig] = readFileSync(join(VECTORS, 'sigs'), 'utf8').trim().split('\n');
  const pass = readFileSync(join(VECTORS, 'mount-passphrase'));

  it('the file key token is byte-identical', () => {
    const t = authTokForPassphrase(pass, DEFAULT_SALT);
    expect(t.sig).toBe(sig);
    expect(t.payload).toEqual(readFileSync(join(VECTORS, `authtok-${sig}.bin`)));
  });

  it('the filename key token is byte-identical, with the ASCII "99887766" salt quirk', () => {
    const t = authTokForPassphrase(pass, FNEK_SALT);
    expect(t.sig).toBe(fnekSig);
    const real = readFileSync(join(VECTORS, `authtok-${fnekSig}.bin`));
    expect(t.payload).toEqual(real);
    expect(real.subarray(729, 737).toString('latin1')).toBe('99887766');
    expect(parseAuthTok(real).sig).toBe(fnekSig);
  });
});
