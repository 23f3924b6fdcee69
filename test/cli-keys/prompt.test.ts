// The interactive path of secret input: a real pseudo-terminal (script(1)),
// answering each prompt when it appears; a new passphrase is asked twice.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'hc-prompt-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `args` on a pty, typing answers[i] when prompts[i] shows up. */
function onPty(args: string[], dialogue: [RegExp, string][]): Promise<{ code: number; out: string }> {
  const cmd = [BIN, ...args].map((a) => `'${a}'`).join(' ');
  const child = spawn('script', ['-qfec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let step = 0;
  let seen = 0;
  const onData = (d: Buffer) => {
    out += d.toString('utf8');
    while (step < dialogue.length) {
      const rest = out.slice(seen);
      const m = rest.match(dialogue[step][0]);
      if (!m) break;
      seen += (m.index ?? 0) + m[0].length;
      const answer = dialogue[step][1];
      child.stdin.write(answer === '\x03' ? answer : `${answer}\r`);
      step++;
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  return new Promise((res) => child.on('close', (code) => res({ code: code ?? -1, out })));
}

describe('interactive secrets', () => {
  it('key create asks for the new passphrase twice, hides it, and uses it', async () => {
    const file = join(dir, 'ks');
    const r = await onPty(
      ['key', 'create', file, '--kdf-time', '0.05'],
      [
        [/New login passphrase:/, 'tty secret'],
        [/Repeat to confirm:/, 'tty secret'],
      ],
    );
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/Created key store/);
    expect(r.out).not.toContain('tty secret');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const s = await onPty(
      ['key', 'slots', file, 'add-passphrase', 'second'],
      [
        [/Existing passphrase or recovery key:/, 'tty secret'],
        [/New passphrase for the slot:/, 'second one'],
        [/Repeat to confirm:/, 'second one'],
      ],
    );
    expect(s.code, s.out).toBe(0);
    expect(s.out).toContain('Added passphrase slot second');
  });

  it('asks again when the confirmation differs or the passphrase is too short, and gives up after three tries', async () => {
    const file = join(dir, 'ks2');
    const r = await onPty(
      ['key', 'create', file, '--kdf-time', '0.05'],
      [
        [/New login passphrase:/, 'first one'],
        [/Repeat to confirm:/, 'other one'],
        [/do not match; try again[\s\S]*?New login passphrase:/, 'short'],
        [/at least 8 characters; try again[\s\S]*?New login passphrase:/, 'third one'],
        [/Repeat to confirm:/, 'not the third'],
      ],
    );
    expect(r.code, r.out).toBe(2);
    expect(r.out).toMatch(/homecrypt: the two entries do not match\r?\n/);
    expect(() => statSync(file)).toThrow();
    const ok = await onPty(
      ['key', 'create', file, '--kdf-time', '0.05'],
      [
        [/New login passphrase:/, 'first one'],
        [/Repeat to confirm:/, 'other one'],
        [/try again[\s\S]*?New login passphrase:/, 'first one'],
        [/Repeat to confirm:/, 'first one'],
      ],
    );
    expect(ok.code, ok.out).toBe(0);
    expect(ok.out).toMatch(/Created key store/);
  });

  it('Ctrl-C at a prompt cancels cleanly (exit 2), writing nothing', async () => {
    const file = join(dir, 'ks3');
    const r = await onPty(['key', 'create', file], [[/New login passphrase:/, '\x03']]);
    expect(r.code).toBe(2);
    expect(r.out).toMatch(/homecrypt: cancelled/);
    expect(r.out).not.toMatch(/internal error|^\s+at /m);
    expect(() => statSync(file)).toThrow();
  });
});
