// Work the engine finishes just after the kernel has its answer: the lower
// pwrite of a WRITE whose ciphertext is sealed and whose space is reserved.
// The writer (dd, cp) then issues its next write while the ciphertext is
// copied into the lower file, which took the canonical benchmark's write row
// from about gocryptfs's time to ~0.8 of it (docs/BENCHMARKS.md).
//
// Why it is safe: the kernel bridge runs the queued job right after sending
// the reply and before it reads the next request, on the one JS thread, so no
// later request can see the lower file without it; the space was allocated
// before the reply, so ENOSPC cannot come after it (an error that still does
// is kept and returned by the file's next operation, and logged). What it
// costs: a daemon killed in those microseconds loses one acknowledged write,
// as a kernel filesystem loses unflushed pages in a crash (SECURITY.md).
export class AfterReply {
  private pending: (() => void) | null = null;

  /** Queues `job` to run after the current reply; a job still queued runs first. */
  defer(job: () => void): void {
    this.run();
    this.pending = job;
  }

  /** Runs the queued job, if any (the bridge, after each reply; anyone touching the lower file before). */
  run(): void {
    const job = this.pending;
    if (!job) return;
    this.pending = null;
    job();
  }
}
