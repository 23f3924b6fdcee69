// A command run as a crash would meet it: SIGKILLed, with its whole process
// group (so its user workers too, as a second Ctrl-C stops them), after `ms`;
// left to finish when it is quicker. For the kill-anywhere tests.
import { spawn } from 'node:child_process';

export async function runKilledAfter(command: string, args: string[], input: string, ms: number, env?: NodeJS.ProcessEnv): Promise<void> {
  const run = spawn(command, args, { detached: true, stdio: ['pipe', 'ignore', 'ignore'], env: env ?? process.env });
  run.stdin!.end(input);
  const exited = new Promise((r) => run.on('exit', r));
  const timer = setTimeout(() => {
    try {
      process.kill(-run.pid!, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }, ms);
  await exited;
  clearTimeout(timer);
}
