// The auth tokens in the kernel keyring (src/ecryptfs/auth-tok-keyring.ts):
// `homecrypt ecryptfs add-passphrase --fnek` inserts exactly the bytes that
// ecryptfs-add-passphrase --fnek inserts (compared with `keyctl pipe`). The
// payloads' layout against the kernel's own: test/format/ecryptfs/auth-tok.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { BIN, runAsThrowawayUser } from '../helpers/ecryptfs.js';
import { authTokForPassphrase } from '../../src/format/ecryptfs/auth-tok.js';
import { DEFAULT_SALT, FNEK_SALT } from '../../src/format/ecryptfs/constants.js';
import { skipUnless } from '../helpers/requirements.js';

describe.skipIf(skipUnless('root', 'keyring', 'eCryptfs keyring comparison'))('in the kernel keyring', () => {
  let fake: string;
  beforeAll(() => {
    fake = mkdtempSync(join(tmpdir(), 'hc-ecryptfs-sysfs-'));
    chmodSync(fake, 0o755);
    mkdirSync(join(fake, 'ecryptfs'), { mode: 0o755 });
    // what Debian's 6.1 kernel reports (it has filename encryption, 0x100)
    writeFileSync(join(fake, 'ecryptfs/version'), '375\n', { mode: 0o644 });
  });
  afterAll(() => rmSync(fake, { recursive: true, force: true }));

  const dump = `for k in $(keyctl rlist @u); do printf '%s ' "$(keyctl rdescribe $k)"; keyctl pipe $k | od -An -v -tx1 | tr -d ' \\n'; echo; done | sort`;

  it('homecrypt ecryptfs add-passphrase --fnek inserts what ecryptfs-add-passphrase --fnek inserts', () => {
    const pass = 'Keyring Test Pass 42';
    const real = runAsThrowawayUser(`ecryptfs-add-passphrase --fnek - >/dev/null && ${dump}`, pass, fake);
    expect(real.status, real.stderr).toBe(0);
    const ours = runAsThrowawayUser(`${BIN} ecryptfs add-passphrase --fnek --passphrase-fd 0 >/dev/null && ${dump}`, `${pass}\n`, fake);
    expect(ours.status, ours.stderr).toBe(0);
    // rdescribe: type;uid;gid;perm;description -- uids differ (one throwaway uid each)
    const norm = (s: string) =>
      s
        .trim()
        .split('\n')
        .map((l) => l.replace(/^(user);\d+;\d+;/, '$1;U;G;'));
    const r = norm(real.stdout),
      o = norm(ours.stdout);
    expect(r).toHaveLength(2);
    expect(o).toEqual(r);
    const expected = [authTokForPassphrase(Buffer.from(pass), DEFAULT_SALT), authTokForPassphrase(Buffer.from(pass), FNEK_SALT)];
    for (const t of expected) expect(r.some((l) => l.endsWith(`;${t.sig} ${t.payload.toString('hex')}`))).toBe(true);
  });

  it('adding a key that is already there leaves it as it is (like the real tool)', () => {
    const out = runAsThrowawayUser(
      `${BIN} ecryptfs add-passphrase --passphrase-fd 0 < /dev/stdin >/dev/null; printf 'again\\n' | ${BIN} ecryptfs add-passphrase --passphrase-fd 0 >/dev/null; keyctl rlist @u | wc -w`,
      'again\n',
      fake,
    );
    expect(out.status, out.stderr).toBe(0);
    expect(out.stdout.trim()).toBe('1');
  });
});
