// The shipped units, checked by systemd itself (systemd-analyze verify works
// without systemd running as PID 1). Units name /usr/bin/homecrypt, where the
// package puts it; here they are verified against this checkout's bin/.
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const UNITS = new URL('../../systemd/', import.meta.url).pathname;
const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'homecrypt-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function stage(name: string, as = name): string {
  const text = readFileSync(join(UNITS, name), 'utf8').replaceAll('/usr/bin/homecrypt', BIN);
  writeFileSync(join(dir, as), text);
  return join(dir, as);
}

function verify(path: string): { code: number; out: string } {
  const r = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe.skipIf(!existsSync('/usr/bin/systemd-analyze'))('systemd units', () => {
  it('ships a per-user mount template and a shutdown unit', () => {
    expect(readdirSync(UNITS).sort()).toEqual(['homecrypt-mount@.service', 'homecrypt-shutdown.service']);
  });

  it.each([
    ['homecrypt-mount@.service', 'homecrypt-mount@alice.service'],
    ['homecrypt-shutdown.service', 'homecrypt-shutdown.service'],
  ])('%s passes systemd-analyze verify', (name, as) => {
    const r = verify(stage(name, as));
    expect(r.out).toBe('');
    expect(r.code).toBe(0);
  });

  it('verify does catch a broken unit (the check can fail)', () => {
    const p = join(dir, 'broken.service');
    writeFileSync(p, '[Service]\nExecStart=/nonexistent/homecrypt session mount\n');
    expect(verify(p).code).not.toBe(0);
  });

  it('the units run commands this CLI has', () => {
    for (const args of [
      ['session', 'mount', '--help'],
      ['session', 'unmount', '--help'],
    ]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
  });
});
