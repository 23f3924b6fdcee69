import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';

describe('the homecrypt command', () => {
  it('prints its version from package.json', () => {
    const out = execFileSync('bin/homecrypt', ['--version'], { encoding: 'utf8' });
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
