// The interactive installer, driven in a real terminal: tmux runs
// `homecrypt install --target ROOT`, the test types the answers with
// send-keys and reads the screen with capture-pane. Every screen is kept under
// test-artifacts/installer/ so the dialogue can be reviewed as text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { skipUnless } from '../helpers/requirements.js';
import type { ChrootSession } from '../helpers/debootstrap.js';
import { debootstrapAbsentReason, HOMECRYPT, mountsBelow, openTarget } from './target-root.js';

const noRoot = skipUnless('root', 'fuse', 'keyring', 'interactive installer in tmux');
const absent = noRoot ? 'skipped' : (debootstrapAbsentReason() ?? (existsSync('/usr/bin/tmux') ? null : 'tmux is not installed'));
const ARTIFACTS = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '../../test-artifacts/installer');
const PASS = 'Bobs-own-passphrase-7';
const SOCKET = `homecrypt-installer-${process.pid}`;

function tmux(...args: string[]): string {
  return execFileSync('tmux', ['-L', SOCKET, ...args], { encoding: 'utf8' });
}

let shot = 0;
let session = 'inst';
function screen(): string {
  return tmux('capture-pane', '-p', '-J', '-S', '-200', '-t', session);
}
function keep(name: string): string {
  const text = screen();
  writeFileSync(join(ARTIFACTS, `interactive-${String(++shot).padStart(2, '0')}-${name}.txt`), text);
  return text;
}
async function waitFor(text: string | RegExp, ms = 60_000): Promise<string> {
  const until = Date.now() + ms;
  for (;;) {
    const s = screen();
    if (typeof text === 'string' ? s.includes(text) : text.test(s)) return s;
    if (s.includes('INSTALL-EXIT=')) throw new Error(`the installer ended before ${String(text)} appeared:\n${s}`);
    if (Date.now() > until) throw new Error(`timed out waiting for ${String(text)} on the screen:\n${s}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}
/** The prompt now waiting for input: inquirer draws it as the last line starting with "? ". */
function activePrompt(s: string): string {
  const i = s.lastIndexOf('\n? ');
  return i >= 0 ? s.slice(i + 1) : s.startsWith('? ') ? s : '';
}
/** Waits until `prompt` is the active prompt, keeps the screen, then types. */
async function answer(prompt: string, name: string, ...keys: string[]): Promise<string> {
  const until = Date.now() + 60_000;
  for (;;) {
    const s = screen();
    if (activePrompt(s).includes(prompt)) break;
    if (s.includes('INSTALL-EXIT=')) throw new Error(`the installer ended before the prompt ${prompt}:\n${s}`);
    if (Date.now() > until) throw new Error(`timed out waiting for the prompt ${prompt}:\n${s}`);
    await new Promise((r) => setTimeout(r, 150));
  }
  await new Promise((r) => setTimeout(r, 150)); // let the prompt finish drawing
  const s = keep(name);
  for (const k of keys) {
    if (k === 'Enter' || k === 'Down' || k === 'Up' || k === 'C-c') tmux('send-keys', '-t', session, k);
    else tmux('send-keys', '-t', session, '-l', k);
  }
  return s;
}

describe.skipIf(noRoot || absent !== null)('homecrypt install, interactive, in a real terminal', () => {
  let t: ChrootSession;

  beforeAll(() => {
    rmSync(ARTIFACTS, { recursive: true, force: true });
    mkdirSync(ARTIFACTS, { recursive: true });
    t = openTarget(300_000 + (process.pid % 90) * 1000);
  }, 900_000);
  afterAll(() => {
    spawnSync('tmux', ['-L', SOCKET, 'kill-server'], { stdio: 'ignore' });
    t?.sh('pamtester login bob close_session </dev/null >/dev/null 2>&1');
    t?.dispose();
  });

  it("asks, confirms the passphrase, shows the recovery key, and the new user's login unlocks", async () => {
    tmux(
      'new-session',
      '-d',
      '-s',
      'inst',
      '-x',
      '120',
      '-y',
      '50',
      `${HOMECRYPT} install --target ${t.root} --kdf-time 0.05 --package copy; echo INSTALL-EXIT=$?; sleep 600`,
    );
    await answer("Encrypt a user's home directory", 'encrypt-home', 'y', 'Enter');
    await answer('Which user?', 'which-user', 'bob', 'Enter');
    await answer('bob has no account in the target yet. Create it?', 'create-account', 'y', 'Enter');
    await answer('Full name', 'full-name', 'Bob Builder', 'Enter');
    await answer('What to encrypt?', 'what-to-encrypt', 'Down', 'Enter');
    await answer('Login passphrase for bob', 'passphrase', PASS, 'Enter');
    await answer('The same passphrase again', 'confirm-mismatch', `${PASS}x`, 'Enter');
    const again = await answer('Login passphrase for bob', 'passphrase-again', PASS, 'Enter');
    expect(again).toContain('The two passphrases differ; please type them again.');
    await answer('The same passphrase again', 'confirm', PASS, 'Enter');
    await answer('Encrypt a whole disk or partition too', 'block-mode', 'Enter');
    await answer('Proceed?', 'proceed', 'Enter');
    const key = await answer('Have you written the recovery key down', 'recovery-key', 'y', 'Enter');
    expect(key).toMatch(/recovery/i);
    await waitFor('INSTALL-EXIT=', 240_000);
    const end = keep('done');
    expect(end).toContain('INSTALL-EXIT=0');
    expect(end).toMatch(/homecrypt is installed in .*\/var\/log\/homecrypt-install\.log/);
    expect(end).not.toContain(PASS); // typed, never shown

    // The answers took effect: bob exists with his Private directory, and logs in.
    expect(t.must('getent passwd bob')).toContain(':Bob Builder:');
    const priv = t.path('/home/bob/Private');
    const login = t.sh('pamtester -v login bob authenticate open_session', { input: `${PASS}\n` });
    expect(login.stdout + login.stderr).toMatch(/successfully opened a session/);
    expect(mountsBelow(priv)).toContain(priv);
    t.must("su -s /bin/sh bob -c 'echo hello > /home/bob/Private/note.txt'");
    const logout = t.sh('pamtester -v login bob close_session', { input: '' });
    expect(logout.stdout + logout.stderr).toMatch(/session has successfully been closed/);
    expect(mountsBelow(priv)).toEqual([]);
    expect(existsSync(join(priv, 'note.txt'))).toBe(false);
    const lower = t.path('/home/bob/.Private');
    expect(readFileSync(t.path('/var/log/homecrypt-install.log'), 'utf8')).toContain("bob's Private directory is encrypted");
    expect(existsSync(lower)).toBe(true);
  }, 300_000);

  it('Ctrl-C during the questions cancels cleanly and changes nothing', async () => {
    session = 'cancel';
    const log = t.path('/var/log/homecrypt-install.log');
    const before = readFileSync(log, 'utf8');
    tmux(
      'new-session',
      '-d',
      '-s',
      session,
      '-x',
      '120',
      '-y',
      '20',
      `${HOMECRYPT} install --target ${t.root} --kdf-time 0.05 --package copy; echo INSTALL-EXIT=$?; sleep 600`,
    );
    await answer("Encrypt a user's home directory", 'cancel-first-question', 'y', 'Enter');
    await answer('Which user?', 'cancel-which-user', 'C-c');
    await waitFor('INSTALL-EXIT=', 30_000).catch(() => undefined);
    const end = keep('cancelled');
    expect(end).toContain('homecrypt: cancelled: nothing was changed in the target');
    expect(end).toContain('INSTALL-EXIT=1');
    expect(readFileSync(log, 'utf8')).toBe(before);
  }, 120_000);
});
