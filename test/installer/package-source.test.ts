// Which homecrypt goes into the target with `package: "auto"`: the .deb of
// this very build, never a stale one from before the last change.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findDeb } from '../../src/installer/package-step.js';

let root: string;
const at = (file: string, seconds: number) => utimesSync(file, seconds, seconds);

describe('findDeb (package: "auto")', () => {
  beforeEach(() => {
    root = mkdtempSync('/tmp/homecrypt-findeb-');
    mkdirSync(join(root, 'dist/cli'), { recursive: true });
    writeFileSync(join(root, 'dist/cli/main.js'), '');
    at(join(root, 'dist/cli/main.js'), 1_000_000);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('no build/ and no .deb: none', () => {
    expect(findDeb(root)).toEqual({ deb: null, stale: null });
  });

  it('a .deb newer than the compiled code is used, the newest of several', () => {
    mkdirSync(join(root, 'build'));
    for (const [name, t] of [
      ['homecrypt_0.1.0-1_amd64.deb', 1_000_100],
      ['homecrypt_0.1.0-2_amd64.deb', 1_000_200],
    ] as const) {
      writeFileSync(join(root, 'build', name), 'x');
      at(join(root, 'build', name), t);
    }
    expect(findDeb(root)).toEqual({ deb: join(root, 'build/homecrypt_0.1.0-2_amd64.deb'), stale: null });
  });

  it('a .deb older than the compiled code is stale: not used, and named', () => {
    mkdirSync(join(root, 'build'));
    const deb = join(root, 'build/homecrypt_0.1.0-1_amd64.deb');
    writeFileSync(deb, 'x');
    at(deb, 999_000);
    expect(findDeb(root)).toEqual({ deb: null, stale: deb });
  });
});
