// What the bridge answers to FUSE_INTERRUPT (src/fuse/kernel/interrupts.ts),
// decided without a kernel: the table's hooks are recorded.
import { describe, expect, it } from 'vitest';
import { InterruptTable, type PendingRequest } from '../../../src/fuse/kernel/interrupts.js';
import { fatalSignalPending } from '../../../src/fuse/kernel/kernel-mount.js';
import { Op } from '../../../src/fuse/kernel/protocol.js';
import { spawn } from 'node:child_process';

function table(dying: (pid: number) => boolean = () => false) {
  const eintr: bigint[] = [];
  const again: bigint[] = [];
  const t = new InterruptTable({
    answerEintr: (p: PendingRequest) => eintr.push(p.unique),
    answerAgain: (u) => again.push(u),
    dying,
  });
  return { t, eintr, again };
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('FUSE_INTERRUPT decisions', () => {
  it('answers a pending request without side effects EINTR at once and drops its result', () => {
    const { t, eintr } = table();
    t.seen(10n);
    const p = t.begin(10n, 3, 1234, Op.FSYNC);
    t.interrupt(10n, 11n, 3);
    expect(eintr).toEqual([10n]);
    expect(t.end(p)).toBe(false); // the late result is not sent
    expect(t.size).toBe(0);
  });

  it('lets a request with side effects finish unless its caller is being killed', async () => {
    let killed = false;
    const { t, eintr } = table(() => killed);
    t.seen(20n);
    const p = t.begin(20n, 3, 1234, Op.MKDIR);
    t.interrupt(20n, 21n, 3);
    expect(eintr).toEqual([]); // a handled signal: mkdir completes and is answered normally
    killed = true; // a SIGKILL follows (the kernel sends no second interrupt)
    await sleep(450);
    expect(eintr).toEqual([20n]);
    expect(t.end(p)).toBe(false);
    const q = t.begin(22n, 3, 1234, Op.WRITE);
    t.interrupt(22n, 23n, 3); // already dying when the interrupt comes
    expect(eintr).toEqual([20n, 22n]);
    expect(t.end(q)).toBe(false);
  });

  it('ends normally when not interrupted, and ignores interrupts of requests already answered', async () => {
    const { t, eintr, again } = table();
    t.seen(30n);
    const p = t.begin(30n, 3, 1, Op.READ);
    expect(t.end(p)).toBe(true);
    t.interrupt(30n, 31n, 3);
    await sleep(30);
    expect(eintr).toEqual([]);
    expect(again).toEqual([]);
  });

  it('answers EAGAIN to an interrupt of a request not read yet, or handles it once it is', async () => {
    const { t, eintr, again } = table();
    t.seen(40n);
    t.interrupt(42n, 43n, 5);
    await sleep(40);
    expect(again).toEqual([43n]); // the kernel queues the interrupt again
    t.interrupt(44n, 45n, 5);
    t.seen(44n);
    t.begin(44n, 5, 1, Op.GETATTR); // read by another reader meanwhile
    await sleep(40);
    expect(again).toEqual([43n]);
    expect(eintr).toEqual([44n]);
  });

  it('tells a process being killed from a live one by /proc', async () => {
    expect(fatalSignalPending(process.pid)).toBe(false);
    expect(fatalSignalPending(0)).toBe(false);
    const child = spawn('sleep', ['30']);
    const pid = child.pid!;
    expect(fatalSignalPending(pid)).toBe(false);
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    expect(fatalSignalPending(pid)).toBe(true); // gone
  });
});
