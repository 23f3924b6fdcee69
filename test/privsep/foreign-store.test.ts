// A key store read by root *for* a user (login, password change, setup,
// status) is found by a path through the user's folders, which the user can
// point anywhere: `~/.homecrypt` made a symlink to a folder only root can
// read, or swapped for one between two reads. Root must then refuse any store
// the user does not own, root's own included: otherwise the user's password
// unlocks a store they cannot even read (its mount key lands in their
// keyring), and a change of it is written where the user chose.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import { createPamService, pamtester, type PamService } from '../helpers/pam.js';
import { createTestUser, removeTestUser, type TestUser } from '../helpers/users.js';
import { makeCanaries, startSwapper, type Canaries, type Swapper } from '../helpers/race.js';
import { createKeyStore } from '../../src/keys/key-store.js';
import { runLoginHook } from '../../src/session/login-hook.js';
import { setupUser } from '../../src/session/setup.js';
import { userStatus } from '../../src/session/status.js';
import { loadUserRecord, saveUserRecord } from '../../src/session/user-record.js';
import { hookLog, userKeys } from '../login/login-helpers.js';

const KDF = 0.02;

/** A root-owned key store (0600) at `path` that `password` opens; returns its key ID. */
async function rootStore(path: string, password: string): Promise<string> {
  const { keyId, mountKey } = await createKeyStore(path, { passphrase: Buffer.from(password), kdfTimeSeconds: KDF });
  mountKey.fill(0);
  chownSync(path, 0, 0);
  chmodSync(path, 0o600);
  return keyId;
}

describe.skipIf(skipUnless('root', 'fuse', 'keyring', "a foreign key store behind the user's folders"))(
  "root reads only the user's own key store for them",
  () => {
    let svc: PamService;
    let u: TestUser;
    let rootOnly = '';
    let foreignId = '';
    let c: Canaries | null = null;
    let sw: Swapper | null = null;
    const tell = () => {};
    const keyDir = () => join(u.home, '.homecrypt');
    const mine = () => join(u.home, '.homecrypt.mine');

    beforeAll(async () => {
      svc = createPamService();
      u = createTestUser('hcf');
      await setupUser({ user: u.name, mode: 'private', passphrase: Buffer.from(u.password), kdfTimeSeconds: KDF, checkPassword: false });
      // a folder only root can read, with a store the user's password happens to open
      rootOnly = mkdtempSync('/tmp/hc-rootonly-');
      chmodSync(rootOnly, 0o700);
      foreignId = await rootStore(join(rootOnly, 'homecrypt.keys'), u.password);
    }, 120_000);

    afterEach(async () => {
      if (sw) {
        await sw.stop().catch(() => 0);
        sw = null;
      }
      c?.remove();
      c = null;
    });

    afterAll(() => {
      if (u) removeTestUser(u);
      svc?.remove();
      if (rootOnly) rmSync(rootOnly, { recursive: true, force: true });
    });

    it("~/.homecrypt a symlink to a root-only folder: the login refuses the store, goes on, and the user's keyring gets no key", () => {
      // what the user does, with their own rights (the home is theirs)
      renameSync(keyDir(), mine());
      symlinkSync(rootOnly, keyDir());
      try {
        const r = pamtester(svc.name, u.name, ['authenticate', 'open_session'], `${u.password}\n`);
        expect(r.code, r.stderr).toBe(0);
        expect(userKeys(u)).not.toContain(foreignId);
        expect(userKeys(u)).not.toContain('homecrypt:');
        expect(hookLog(u.name)).toMatch(new RegExp(`homecrypt\\.keys: owned by uid 0, not by uid ${u.uid}`));
        expect(pamtester(svc.name, u.name, ['close_session']).code).toBe(0);
        // status as root names the refusal instead of listing root's slots
        const s = userStatus(u.name);
        expect(s.slots).toBeUndefined();
        expect(s.slotsError).toMatch(/owned by uid 0/);
      } finally {
        rmSync(keyDir());
        renameSync(mine(), keyDir());
      }
      // the control: the user's own store, at its place, still unlocks at login
      const ok = pamtester(svc.name, u.name, ['authenticate', 'open_session'], `${u.password}\n`);
      expect(ok.code, ok.stderr).toBe(0);
      expect(userKeys(u)).toContain(loadUserRecord(u.name)!.keyId);
      expect(pamtester(svc.name, u.name, ['close_session']).code).toBe(0);
    }, 180_000);

    /** Canaries whose folder holds a root-owned store the user's password opens (its bytes part of the snapshot). */
    async function canariesWithStore(): Promise<{ c: Canaries; snapshot: () => string; before: string }> {
      const made = makeCanaries();
      const store = join(made.dir, 'homecrypt.keys');
      await rootStore(store, u.password);
      const snapshot = () => {
        const st = lstatSync(store, { throwIfNoEntry: false });
        const bytes = st?.isFile() ? createHash('sha256').update(readFileSync(store)).digest('hex') : 'not a file';
        return `${made.snapshot()}\n${store}: ${st?.uid}:${st?.gid} ${((st?.mode ?? 0) & 0o7777).toString(8)} ${bytes}`;
      };
      return { c: made, snapshot, before: snapshot() };
    }

    /** Puts the user's folder back after the swapper renamed it aside. */
    function restoreKeyDir(): void {
      const aside = readdirSync(u.home).find((n) => n.startsWith('.swapped-'));
      if (!aside) return;
      rmSync(keyDir(), { force: true });
      renameSync(join(u.home, aside), keyDir());
    }

    it("password change (module): ~/.homecrypt swapped for a folder with a root-owned store once the user's is opened: refused, nothing written", async () => {
      const made = await canariesWithStore();
      c = made.c;
      const newPw = `${u.password}-new`;
      sw = await startSwapper(u, c, { watch: [keyDir()], match: '^homecrypt\\.keys$', events: ['open'], swapWatched: true });
      const r = await runLoginHook({ user: u.name, phase: 'password', mode: 'module', authtok: Buffer.from(newPw), oldAuthtok: Buffer.from(u.password), tell });
      const swaps = await sw.stop();
      sw = null;
      restoreKeyDir();
      expect(swaps).toBeGreaterThan(0);
      expect(made.snapshot()).toBe(made.before);
      expect(r).toBe('error');
      // refused either by the owner check of the store read for the user, or by the
      // user worker (writing as the user) finding no permission in the swapped folder
      expect(hookLog(u.name)).toMatch(
        new RegExp(`password ${u.name}: failed: .*homecrypt\\.keys: (owned by uid 0, not by uid ${u.uid}|no permission to write in)`),
      );
    }, 120_000);

    it('setup run again to show a recovery key never shown: with the folder swapped the same way, root writes nothing there', async () => {
      const made = await canariesWithStore();
      c = made.c;
      const rec = loadUserRecord(u.name)!;
      saveUserRecord({ ...rec, recoveryKeyPending: true });
      sw = await startSwapper(u, c, { watch: [keyDir()], match: '^homecrypt\\.keys$', events: ['open'], swapWatched: true });
      let err: Error | null = null;
      try {
        await setupUser({
          user: u.name,
          mode: 'private',
          passphrase: Buffer.from(u.password),
          kdfTimeSeconds: KDF,
          checkPassword: false,
          onRecoveryKey: () => {},
        });
      } catch (e) {
        err = e as Error;
      }
      const swaps = await sw.stop();
      sw = null;
      restoreKeyDir();
      expect(swaps).toBeGreaterThan(0);
      expect(made.snapshot()).toBe(made.before);
      expect(err?.message).toMatch(/owned by uid 0, not by uid|no permission to write in/);
      // the control: unattacked, the rerun makes the new recovery key in the user's own store
      let shown = '';
      await setupUser({
        user: u.name,
        mode: 'private',
        passphrase: Buffer.from(u.password),
        kdfTimeSeconds: KDF,
        checkPassword: false,
        onRecoveryKey: (k) => {
          shown = k;
        },
      });
      expect(shown).toMatch(/^[0-9A-Z]{5}-/);
      expect(loadUserRecord(u.name)!.recoveryKeyPending).toBeFalsy();
    }, 180_000);
  },
);
