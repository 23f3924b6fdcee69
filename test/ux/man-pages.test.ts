// The man pages man/build-man.mjs makes from the program (issue 16): the
// administrator's command groups in section 8, full synopses (each option with
// its argument, then the arguments), an EXIT STATUS section on every page
// listing every code of src/cli/exit-codes.ts, and man renders them without a warning.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ExitCode } from '../../src/cli/exit-codes.js';

const REPO = resolve(import.meta.dirname, '../..');
let out: string;
const render = (file: string) =>
  spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', file], {
    encoding: 'utf8',
    env: { ...process.env, MANWIDTH: '400', LC_ALL: 'C.UTF-8' },
  });

describe('man pages', () => {
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'hc-man-'));
    execFileSync('node', [
      join(REPO, 'man/build-man.mjs'),
      '--program',
      join(REPO, 'dist/cli/main.js'),
      '--out',
      out,
      '--version',
      '0',
      '--date',
      '2026-01-01',
    ]);
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("puts the administrator's groups in section 8 and the rest in section 1", () => {
    expect(readdirSync(join(out, 'man8')).sort()).toEqual([
      'homecrypt-block.8',
      'homecrypt-doctor.8',
      'homecrypt-install.8',
      'homecrypt-pam.8',
      'homecrypt-session.8',
      'homecrypt-setup.8',
    ]);
    expect(readdirSync(join(out, 'man1'))).toEqual(expect.arrayContaining(['homecrypt.1', 'homecrypt-key.1', 'homecrypt-status.1', 'homecrypt-ecryptfs.1']));
    expect(readFileSync(join(out, 'man8/homecrypt-setup.8'), 'utf8')).toMatch(/^\.TH HOMECRYPT-SETUP 8 /m);
    expect(readFileSync(join(out, 'man1/homecrypt.1'), 'utf8')).toContain('\\fBhomecrypt\\-setup\\fR(8)');
  });

  it('gives full synopses: options with their arguments, then the arguments', () => {
    const block = render(join(out, 'man8/homecrypt-block.8')).stdout.replace(/\s+/g, ' ');
    expect(block).toContain('homecrypt block format [--mkfs fstype] [--sector-size bytes]');
    expect(block).toMatch(/homecrypt block remove-slot \[--passphrase-fd n\] .*device slot/);
    expect(block).toContain('homecrypt block close [--json] [--quiet] name');
    const setup = render(join(out, 'man8/homecrypt-setup.8')).stdout.replace(/\s+/g, ' ');
    expect(setup).toContain('homecrypt setup --user name [--private] [--home]');
  });

  it('has an EXIT STATUS section with every code on every page, and man renders each without a warning', () => {
    for (const dir of ['man1', 'man8']) {
      for (const f of readdirSync(join(out, dir))) {
        const r = render(join(out, dir, f));
        expect(r.stderr, f).toBe('');
        expect(r.stdout, f).toMatch(/^EXIT STATUS$/m);
        for (const [name, code] of Object.entries(ExitCode)) expect(r.stdout, `${f} ${name}`).toMatch(new RegExp(`^\\s+${code} \\(${name}\\)`, 'm'));
      }
    }
  });
});
