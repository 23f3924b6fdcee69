// CLI scenarios as reviewable text: each scenarios/t_*.sh runs under sh with
// $HC = bin/homecrypt and $T = a fresh temp dir, and its output (stdout and
// stderr together, with key IDs, recovery keys and the temp dir masked) must equal t_*.out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const DIR = new URL('./scenarios/', import.meta.url).pathname;
const BIN = new URL('../../bin/homecrypt', import.meta.url).pathname;

function mask(text: string, tmp: string): string {
  return text
    .split(tmp).join('$T')
    .replace(/\b[0-9a-f]{16}\b/g, '<keyid>')
    .replace(/\b([0-9A-Z]{5}-){7}[0-9A-Z]{5}\b/g, '<recovery-key>')
    .replace(/group 3 "[0-9A-Z]{5}"/g, 'group 3 "<group>"');
}

describe('CLI scenarios', () => {
  for (const script of readdirSync(DIR).filter((f) => /^t_.*\.sh$/.test(f)).sort()) {
    it(script, () => {
      const tmp = mkdtempSync(join(tmpdir(), 'hc-scenario-'));
      try {
        const r = spawnSync('sh', ['-c', 'sh "$1" 2>&1', 'sh', join(DIR, script)], {
          env: { PATH: process.env.PATH, HC: BIN, T: tmp }, encoding: 'utf8', timeout: 120_000,
        });
        const got = mask(r.stdout, tmp);
        const want = readFileSync(join(DIR, script.replace(/\.sh$/, '.out')), 'utf8');
        expect(got).toBe(want);
        expect(r.status).toBe(0);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    });
  }
});
