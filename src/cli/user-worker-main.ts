// `homecrypt user-worker`: what setup and the login hook start *as a user* to
// do file work in that user's folders (src/session/user-ops.ts). Reads a JSON
// header line then the payloads from stdin, prints JSON lines (progress,
// one result per request, or the error), exits 0 when all were done.
// Loaded on its own (bin/homecrypt), without the CLI, so it starts fast.
import type { WorkerInput, WorkerLine } from '../session/user-worker-client.js';
import { runUserRequest } from '../session/user-ops.js';
import { ExitCode } from '../errors.js';

const MAX_INPUT = 16 * 1024 * 1024;

async function readStdin(): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of process.stdin) {
    parts.push(c as Buffer);
    n += (c as Buffer).length;
    if (n > MAX_INPUT) throw new Error('user-worker: request too large');
  }
  return Buffer.concat(parts);
}

function say(line: WorkerLine): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

export async function main(): Promise<void> {
  if (process.geteuid?.() === 0) {
    // it exists to run with a user's rights; as root it would be the very thing it prevents
    process.stderr.write('homecrypt: user-worker runs as a user, not as root\n');
    process.exit(ExitCode.USAGE);
  }
  const input = await readStdin();
  const nl = input.indexOf(0x0a);
  const header = JSON.parse(input.subarray(0, nl).toString('utf8')) as WorkerInput;
  let off = nl + 1;
  try {
    for (const { req, payloadBytes } of header.requests) {
      const payload = input.subarray(off, off + payloadBytes);
      off += payloadBytes;
      let last = 0;
      const result = await runUserRequest(req, payload, (p) => {
        const now = Date.now();
        if (now - last > 200) {
          last = now;
          say({ progress: p });
        }
      });
      say({ result });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    say({ error: { name: e.constructor?.name ?? 'Error', message: e.message, code: e.code } });
    process.exitCode = ExitCode.FAILURE;
  } finally {
    input.fill(0);
  }
}
