// A crash at any step of a key-store change leaves the old file or the new one,
// and either opens: a child process makes the change and is SIGKILLed between
// the steps of the atomic replacement (write, fsync, rename, fsync dir).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createKeyStore, readKeyStoreInfo, unwrapKeyStore } from '../../src/keys/key-store.js';
import { WrongPassphraseError } from '../../src/errors.js';
import { TEST_KDF_TIME, tempDir } from '../helpers/key-store-vectors.js';

const CHILD = new URL('./crash-child.mjs', import.meta.url).pathname;
const { dir, cleanup } = tempDir('hc-crash-');
afterAll(cleanup);

function runChild(req: object): { signal: NodeJS.Signals | null; stdout: string } {
  const r = spawnSync(process.execPath, [CHILD], { input: JSON.stringify(req), encoding: 'utf8', timeout: 30_000 });
  return { signal: r.signal, stdout: r.stdout };
}

async function opens(path: string, secret: string): Promise<boolean> {
  try {
    await unwrapKeyStore(path, Buffer.from(secret));
    return true;
  } catch (e) {
    if (e instanceof WrongPassphraseError) return false;
    throw e;
  }
}

describe('crash atomicity of key-store changes', () => {
  const steps = ['written', 'synced', 'renamed', 'never'] as const;

  for (const killAt of steps) {
    it(`rewrap killed at "${killAt}" leaves a valid old or new file`, async () => {
      const path = join(dir, `rewrap-${killAt}`);
      const { keyId, mountKey } = await createKeyStore(path, { passphrase: Buffer.from('old pass'), kdfTimeSeconds: TEST_KDF_TIME });
      const r = runChild({ op: 'rewrap', path, oldSecret: 'old pass', newSecret: 'new pass', killAt });
      expect(r.signal).toBe(killAt === 'never' ? null : 'SIGKILL');
      expect(readKeyStoreInfo(path).keyId).toBe(keyId);
      const oldOpens = await opens(path, 'old pass');
      const newOpens = await opens(path, 'new pass');
      // before the rename the old file is in place; from the rename on, the new one
      const expectNew = killAt === 'renamed' || killAt === 'never';
      expect({ oldOpens, newOpens }).toEqual({ oldOpens: !expectNew, newOpens: expectNew });
      const opened = await unwrapKeyStore(path, Buffer.from(expectNew ? 'new pass' : 'old pass'));
      expect(opened.mountKey.equals(mountKey)).toBe(true);
    });
  }

  for (const killAt of steps) {
    it(`create killed at "${killAt}" leaves no key store or a complete one`, async () => {
      const path = join(dir, `create-${killAt}`);
      runChild({ op: 'create', path, newSecret: 'first pass', kdfTime: TEST_KDF_TIME, killAt });
      if (killAt === 'renamed' || killAt === 'never') {
        expect(await opens(path, 'first pass')).toBe(true);
      } else {
        expect(existsSync(path)).toBe(false);
        // the interrupted temp file is beside it, never under the key store's name
        expect(readdirSync(dir).some((f) => f.startsWith(`.create-${killAt}.tmp-`))).toBe(true);
        // and a retry works
        await createKeyStore(path, { passphrase: Buffer.from('first pass'), kdfTimeSeconds: TEST_KDF_TIME });
        expect(await opens(path, 'first pass')).toBe(true);
      }
    });
  }

  it('adding a slot killed before the rename keeps the old slots only', async () => {
    const path = join(dir, 'add');
    await createKeyStore(path, { passphrase: Buffer.from('p1'), kdfTimeSeconds: TEST_KDF_TIME });
    runChild({ op: 'add-passphrase', path, oldSecret: 'p1', newSecret: 'p2', killAt: 'synced' });
    expect(readKeyStoreInfo(path).slots.map((s) => s.name)).toEqual(['login', 'recovery']);
    runChild({ op: 'add-passphrase', path, oldSecret: 'p1', newSecret: 'p2', killAt: 'renamed' });
    expect(readKeyStoreInfo(path).slots.map((s) => s.name)).toEqual(['login', 'recovery', 'passphrase-2']);
    expect(await opens(path, 'p2')).toBe(true);
  });

  it('concurrent changes from two processes both land (the change is locked, not lost)', async () => {
    const path = join(dir, 'concurrent');
    // a slower KDF widens the read-unlock-write window, so unlocked changes would collide
    await createKeyStore(path, { passphrase: Buffer.from('p1'), kdfTimeSeconds: 0.1 });
    // start three children, and release them together once all are loaded
    const children = ['a', 'b', 'c'].map((name) => {
      const c = spawn(process.execPath, [CHILD], { stdio: ['pipe', 'pipe', 'inherit'] });
      const ready = new Promise<void>((res) => c.stdout.once('data', () => res()));
      const done = new Promise<number>((res) => c.on('close', (code) => res(code ?? -1)));
      return { c, name, ready, done };
    });
    await Promise.all(children.map((x) => x.ready));
    for (const { c, name } of children) {
      c.stdin.end(JSON.stringify({ op: 'add-passphrase', path, oldSecret: 'p1', newSecret: `pw-${name}`, name, killAt: 'never' }));
    }
    const codes = await Promise.all(children.map((x) => x.done));
    expect(codes).toEqual([0, 0, 0]);
    expect(
      readKeyStoreInfo(path)
        .slots.map((s) => s.name)
        .sort(),
    ).toEqual(['a', 'b', 'c', 'login', 'recovery']);
    for (const name of ['a', 'b', 'c']) expect(await opens(path, `pw-${name}`)).toBe(true);
  });
});
