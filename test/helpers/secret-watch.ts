// Watches every /proc/*/cmdline and /proc/*/environ for a secret while logins
// run, from a separate process (so it samples while the test awaits). The
// secret reaches the watcher on stdin, never in its argv or environment.
import { spawn, type ChildProcess } from 'node:child_process';

const WATCHER = `
const fs = require('fs');
let needles = []; const hits = new Set(); let stop = false; let input = '';
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => { needles = JSON.parse(input).map((n) => Buffer.from(n)); loop(); });
process.on('SIGTERM', () => { stop = true; });
function scan() {
  for (const p of fs.readdirSync('/proc')) {
    if (!/^\\d+$/.test(p) || Number(p) === process.pid) continue;
    for (const f of ['cmdline', 'environ']) {
      try {
        const data = fs.readFileSync('/proc/' + p + '/' + f);
        for (const n of needles) if (data.includes(n)) hits.add(p + '/' + f + ':' + fs.readFileSync('/proc/' + p + '/comm', 'utf8').trim());
      } catch {}
    }
  }
}
let scans = 0;
function loop() { if (stop) { process.stdout.write(JSON.stringify({ scans, hits: [...hits] })); process.exit(0); } scan(); scans++; setTimeout(loop, 2); }
`;

export interface SecretWatch {
  stop(): Promise<{ scans: number; hits: string[] }>;
}

/** Watches for any of the secrets (and their longer forms: a match is a substring). */
export function watchForSecret(...secrets: string[]): SecretWatch {
  const child: ChildProcess = spawn(process.execPath, ['-e', WATCHER], { stdio: ['pipe', 'pipe', 'inherit'], env: {} });
  let out = '';
  child.stdout!.on('data', (c) => {
    out += c;
  });
  child.stdin!.end(JSON.stringify(secrets));
  const exited = new Promise<{ scans: number; hits: string[] }>((resolve) => {
    // 'close', not 'exit': 'exit' can come before the last stdout chunk is read,
    // and under load that lost the whole report (seen as 0 scans)
    child.on('close', () => resolve(JSON.parse(out || '{"scans":0,"hits":[]}')));
  });
  return {
    stop: () => {
      child.kill('SIGTERM');
      return exited;
    },
  };
}
