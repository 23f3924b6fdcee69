// A volume is open at most once, an interrupted open leaves nothing behind, and
// a close that cannot unmount says why. Two plaintext devices over one
// ciphertext would corrupt the filesystem: a second open is refused however
// the volume is named (a loop device over the image, a hard link, a symlink, a
// copy with the same LUKS2 UUID) and when two opens race. Ctrl-C during an
// open undoes what it started (engine, loop device, mounts); an open killed
// outright is found and cleaned up by `block close` and the next `block open`,
// even when its record is gone.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, linkSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOMECRYPT, closeAll, hc, sh, tempDir } from './helpers.js';
import { skipUnless } from '../helpers/requirements.js';
import { enginesFor } from '../../src/block/engine-process.js';

let tmp = '';
let img = '';
const env: Record<string, string> = {};
const PASS = 'open once pass';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `block open` in a process group of its own (as a terminal's Ctrl-C would signal it), not awaited. */
function openAsync(name: string, extra: string[] = []) {
  const child = spawn(HOMECRYPT, ['block', 'open', img, name, ...extra, '--passphrase-fd', '0'], {
    detached: true,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  child.stdin.end(`${PASS}\n`);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdout.resume();
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) =>
    child.on('close', (code, signal) => res({ code, signal, stderr })),
  );
  return { pid: child.pid!, done };
}

/** Waits until NAME's record says `until` (e.g. the open is under way, or the engine is started). */
async function recordSays(name: string, until: (r: Record<string, unknown>) => boolean): Promise<void> {
  const path = join(env.HOMECRYPT_BLOCK_STATE_DIR, `${name}.json`);
  for (let i = 0; i < 2000; i++) {
    try {
      if (until(JSON.parse(readFileSync(path, 'utf8')))) return;
    } catch {
      /* not there yet, or being replaced */
    }
    await sleep(5);
  }
  throw new Error(`${name}'s record never showed the expected step`);
}

/** Nothing of NAME is left: no record, engine, FUSE mount, loop device or filesystem mount. */
function expectNothingLeft(name: string, mnt?: string): void {
  const fuseDir = join(env.HOMECRYPT_BLOCK_STATE_DIR, `${name}.fuse`);
  expect(existsSync(join(env.HOMECRYPT_BLOCK_STATE_DIR, `${name}.json`))).toBe(false);
  expect(enginesFor(fuseDir)).toEqual([]);
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
  expect(mounts).not.toContain(fuseDir);
  if (mnt) expect(mounts).not.toContain(` ${mnt} `);
  expect(sh(`losetup -j '${join(fuseDir, 'volume')}'`).trim()).toBe('');
}

describe.skipIf(skipUnless('root', 'fuse', 'loop', 'block open-once tests'))('one volume, open once', () => {
  beforeAll(() => {
    tmp = tempDir('once');
    env.HOMECRYPT_BLOCK_STATE_DIR = join(tmp, 'state');
    img = join(tmp, 'v.img');
    writeFileSync(img, '');
    sh(`truncate -s 48M '${img}'`);
    const f = hc(['block', 'format', img, '--mkfs', 'ext4', '--kdf-time', '0.05', '--backend', 'userspace'], [PASS], env);
    expect(f.code, f.stderr).toBe(0);
  });
  afterAll(() => {
    closeAll(env);
    rmSync(tmp, { recursive: true, force: true });
  });

  it('refuses a second open through a loop device, a hard link, a symlink or a copy (exit 8, naming the first)', () => {
    const first = hc(['block', 'open', img, 'first'], [PASS], env);
    expect(first.code, first.stderr).toBe(0);
    const loop = sh(`losetup --find --show '${img}'`).trim();
    try {
      const hard = join(tmp, 'hard.img');
      const soft = join(tmp, 'soft.img');
      const copy = join(tmp, 'copy.img');
      linkSync(img, hard);
      symlinkSync(img, soft);
      copyFileSync(img, copy);
      for (const other of [loop, hard, soft]) {
        const r = hc(['block', 'open', other, 'second'], [PASS], env);
        expect(r.code, `${other}: ${r.stderr}`).toBe(8);
        expect(r.stderr).toMatch(/is already open as 'first' \(\/dev\/loop\d+\); a second open would corrupt its filesystem/);
        expect(r.stderr).toMatch(/hint: .*homecrypt block close first/);
      }
      const c = hc(['block', 'open', copy, 'second'], [PASS], env);
      expect(c.code, c.stderr).toBe(8);
      expect(c.stderr).toMatch(/same LUKS2 UUID .* already open as 'first'.*a copy of it/);
      expect(JSON.parse(hc(['block', 'status', '--json'], [], env).stdout).map((v: { name: string }) => v.name)).toEqual(['first']);
      expect(hc(['block', 'close', 'first'], [], env).code).toBe(0);

      // the other way round: the loop device first, then the image it is backed by
      const viaLoop = hc(['block', 'open', loop, 'second'], [PASS], env);
      expect(viaLoop.code, viaLoop.stderr).toBe(0);
      const r = hc(['block', 'open', img, 'first'], [PASS], env);
      expect(r.code, r.stderr).toBe(8);
      expect(r.stderr).toMatch(/already open as 'second'/);
      // nor can it be formatted or have its header restored under the open volume
      const fmt = hc(['block', 'format', img, '--force', '--kdf-time', '0.05'], ['x'], env);
      expect(fmt.code, fmt.stderr).toBe(8);
      expect(fmt.stderr).toMatch(/is open as 'second'/);
      expect(hc(['block', 'close', 'second'], [], env).code).toBe(0);
    } finally {
      sh(`losetup -d ${loop}`);
    }
  });

  it('two opens racing for the same volume: exactly one wins', async () => {
    const a = openAsync('race-a');
    const b = openAsync('race-b');
    const [ra, rb] = await Promise.all([a.done, b.done]);
    const codes = [ra.code, rb.code].sort();
    expect(codes, `${ra.stderr}\n${rb.stderr}`).toEqual([0, 8]);
    expect(`${ra.stderr}${rb.stderr}`).toMatch(/already open as 'race-[ab]'|is being opened right now/);
    const open = JSON.parse(hc(['block', 'status', '--json'], [], env).stdout) as { name: string }[];
    expect(open).toHaveLength(1);
    expect(hc(['block', 'close', open[0].name], [], env).code).toBe(0);
  });

  it('Ctrl-C during an open undoes it: exit 130, no engine, loop device, FUSE or filesystem mount left', async () => {
    const mnt = join(tmp, 'mnt-int');
    const o = openAsync('intr', ['--mount', mnt]);
    // the record says the open is under way before anything is started: the engine, losetup and mount are still to come
    await recordSays('intr', (r) => r.opening !== undefined);
    process.kill(-o.pid, 'SIGINT');
    const r = await o.done;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toMatch(/interrupted; nothing was left open/);
    expectNothingLeft('intr', mnt);
    // and the same open runs to the end when left alone
    const again = hc(['block', 'open', img, 'intr', '--mount', mnt], [PASS], env);
    expect(again.code, again.stderr).toBe(0);
    expect(hc(['block', 'close', 'intr'], [], env).code).toBe(0);
    expectNothingLeft('intr', mnt);
  });

  it('an open killed outright (kill -9) leaves a record that close and the next open clean up, even when the record is lost', async () => {
    const killed = async (name: string) => {
      const o = openAsync(name);
      await recordSays(name, (r) => typeof r.pid === 'number'); // the engine is started
      const fuseDir = join(env.HOMECRYPT_BLOCK_STATE_DIR, `${name}.fuse`);
      for (let i = 0; i < 2000 && !readFileSync('/proc/self/mountinfo', 'utf8').includes(fuseDir); i++) await sleep(5);
      process.kill(-o.pid, 'SIGKILL');
      await o.done;
      expect(enginesFor(fuseDir)).toHaveLength(1); // the engine the killed open started runs on, holding the key
    };

    await killed('k1');
    const st = JSON.parse(hc(['block', 'status', '--json'], [], env).stdout) as { name: string; state: string }[];
    expect(st).toMatchObject([{ name: 'k1', state: 'stale' }]);
    const c = hc(['block', 'close', 'k1'], [], env);
    expect(c.code, c.stderr).toBe(0);
    expectNothingLeft('k1');

    // the record lost as well: the next open of the name finds the engine by its FUSE directory
    await killed('k2');
    rmSync(join(env.HOMECRYPT_BLOCK_STATE_DIR, 'k2.json'));
    const again = hc(['block', 'open', img, 'k2'], [PASS], env);
    expect(again.code, again.stderr).toBe(0);
    const fuseDir = join(env.HOMECRYPT_BLOCK_STATE_DIR, 'k2.fuse');
    expect(enginesFor(fuseDir)).toHaveLength(1);
    expect(readFileSync('/proc/self/mountinfo', 'utf8').split(fuseDir).length - 1).toBe(1); // one FUSE mount, not two stacked
    expect(hc(['block', 'close', 'k2'], [], env).code).toBe(0);
    expectNothingLeft('k2');

    // and `block close` alone, with no record, stops such an engine
    await killed('k3');
    rmSync(join(env.HOMECRYPT_BLOCK_STATE_DIR, 'k3.json'));
    const c3 = hc(['block', 'close', 'k3'], [], env);
    expect(c3.code, c3.stderr).toBe(0);
    expectNothingLeft('k3');
  });

  it('close while the mount is busy: exit 8 with a hint, and the volume stays open and whole', async () => {
    const mnt = join(tmp, 'mnt-busy');
    const o = hc(['block', 'open', img, 'busy', '--mount', mnt], [PASS], env);
    expect(o.code, o.stderr).toBe(0);
    const holder = spawn('sleep', ['60'], { cwd: mnt, stdio: 'ignore' });
    try {
      await sleep(200);
      const c = hc(['block', 'close', 'busy'], [], env);
      expect(c.code, c.stderr).toBe(8);
      expect(c.stderr).toMatch(/'busy' stays open: .*mnt-busy is in use/);
      expect(c.stderr).toMatch(/^hint: close what uses it \(fuser -vm .*\), then run homecrypt block close busy again$/m);
      const st = JSON.parse(hc(['block', 'status', '--json'], [], env).stdout) as { name: string; state: string; mountpoint: string }[];
      expect(st).toMatchObject([{ name: 'busy', state: 'open', mountpoint: mnt }]);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(` ${mnt} `);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.on('close', r));
    }
    expect(hc(['block', 'close', 'busy'], [], env).code).toBe(0);
    expectNothingLeft('busy', mnt);
  });
});
