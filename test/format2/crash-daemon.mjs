// The crash test's daemon: the engine's own serveMount (what `homecrypt
// mount` runs in its daemon), started without the CLI so that 200 remounts
// fit in the test's time. The mount keys arrive on stdin (hex, one a line).
// Usage: node crash-daemon.mjs DIST LOWER MNT   (prints "ready" when mounted)
import { readFileSync } from 'node:fs';

const [dist, lower, mnt] = process.argv.slice(2);
const { serveMount } = await import(new URL('engine/mount-daemon.js', `file://${dist}/`));
const keys = readFileSync(0, 'utf8')
  .trim()
  .split('\n')
  .map((h) => Buffer.from(h, 'hex'));
await serveMount(lower, mnt, keys, { allowOther: true }, () => process.stdout.write('ready\n'));
