// The installer's preferred path: homecrypt's .deb (built here by
// packaging/build-deb.sh) installed with apt inside the target, then the same
// configuration, and the created user's login unlocks their Private directory.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import type { ChrootSession } from '../helpers/debootstrap.js';
import { debootstrapAbsentReason, homecrypt, mountsBelow, openTarget } from './target-root.js';

const noRoot = skipUnless('root', 'fuse', 'keyring', 'installer step from the .deb');
const absent = noRoot ? 'skipped' : debootstrapAbsentReason();
const REPO = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../..');
const PASS = 'Daves-passphrase-from-apt';

describe.skipIf(noRoot || absent !== null)('homecrypt install from the .deb (apt in the chroot)', () => {
  let t: ChrootSession;
  let tmp: string;
  let deb: string;

  beforeAll(() => {
    tmp = mkdtempSync('/tmp/homecrypt-installer-deb-');
    chmodSync(tmp, 0o700);
    deb = execFileSync('bash', [join(REPO, 'packaging/build-deb.sh'), '--out', tmp], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
      .trim()
      .split('\n')
      .pop() as string;
    t = openTarget(400_000 + (process.pid % 90) * 1000);
  }, 900_000);
  afterAll(() => {
    t?.sh('pamtester login dave close_session </dev/null >/dev/null 2>&1');
    t?.dispose();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('installs the package with apt, enables PAM, creates the user, and the login unlocks', async () => {
    const answers = join(tmp, 'answers.json');
    writeFileSync(answers, JSON.stringify({ version: 1, user: 'dave', createUser: true, encryptHome: 'private', kdfTime: 0.05, package: deb }));
    const r = await homecrypt(['install', '--target', t.root, '--passphrase-fd', '3', '--answers', answers], { fd3: `${PASS}\n`, timeoutMs: 600_000 });
    expect(r.stderr).toBe(r.code === 0 ? r.stderr : 'a failure (shown here)');
    expect(t.must("dpkg-query -W -f='${Status}' homecrypt")).toBe('install ok installed');
    expect(existsSync(t.path('/usr/lib/homecrypt/.homecrypt-install-stamp'))).toBe(false); // dpkg's files, not a copy
    const log = readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8');
    expect(log).toMatch(/package: installed homecrypt_.*\.deb with apt/);
    expect(readFileSync(t.path('/etc/pam.d/common-auth'), 'utf8')).toContain('homecrypt');

    const priv = t.path('/home/dave/Private');
    const login = t.sh('pamtester -v login dave authenticate open_session', { input: `${PASS}\n` });
    expect(login.stdout + login.stderr).toMatch(/successfully opened a session/);
    expect(mountsBelow(priv), login.stdout + login.stderr).toContain(priv);
    t.must("su -s /bin/sh dave -c 'echo from-apt > /home/dave/Private/f && cat /home/dave/Private/f'");
    const logout = t.sh('pamtester -v login dave close_session', { input: '' });
    expect(logout.stdout + logout.stderr).toMatch(/session has successfully been closed/);
    expect(mountsBelow(priv)).toEqual([]);
  }, 600_000);
});
