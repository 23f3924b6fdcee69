// Watches every /proc/*/cmdline and /proc/*/environ for a secret while logins
// run, from a separate process (so it samples while the test awaits). The
// secret reaches the watcher on stdin, never in its argv or environment.
import { spawn, type ChildProcess } from 'node:child_process';

const WATCHER = `
const fs = require('fs');
let needle = null; const hits = new Set(); let stop = false;
process.stdin.once('data', (d) => { needle = Buffer.from(d.toString().trim()); loop(); });
process.on('SIGTERM', () => { stop = true; });
function scan() {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(p) || Number(p) === process.pid) continue;
    for (const f of ['cmdline', 'environ']) {
      try { if (fs.readFileSync('/proc/' + p + '/' + f).includes(needle)) hits.add(p + '/' + f + ':' + fs.readFileSync('/proc/' + p + '/comm', 'utf8').trim()); } catch {}
    }
  }
}
let scans = 0;
function loop() { if (stop) { process.stdout.write(JSON.stringify({ scans, hits: [...hits] })); process.exit(0); } scan(); scans++; setImmediate(loop); }
`;

export interface SecretWatch { stop(): Promise<{ scans: number; hits: string[] }> }

export function watchForSecret(secret: string): SecretWatch {
  const child: ChildProcess = spawn(process.execPath, ['-e', WATCHER], { stdio: ['pipe', 'pipe', 'inherit'], env: {} });
  let out = '';
  child.stdout!.on('data', (c) => { out += c; });
  child.stdin!.end(`${secret}\n`);
  return {
    stop: () => new Promise((resolve) => {
      child.on('exit', () => resolve(JSON.parse(out || '{"scans":0,"hits":[]}')));
      child.kill('SIGTERM');
    }),
  };
}
