// Runs once before the suite: CLI tests run the compiled dist/, so it must exist
// (./run test builds it; a bare `npx vitest` after editing needs `npx tsc` first).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';

export default function setup(): void {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    throw new Error('dist/ is missing: run ./run build (or npx tsc) first');
  }
  // pam_homecrypt.so beside dist/ (./run build does the same; quiet when up to date)
  execFileSync('sh', [new URL('../../pam/build-module.sh', import.meta.url).pathname], { stdio: 'inherit' });
  mkdirSync(new URL('../../test-artifacts/', import.meta.url), { recursive: true });
}
