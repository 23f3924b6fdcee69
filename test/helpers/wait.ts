// Waiting in a test for something another process does (a daemon's exit, a
// log line, a mount), checked every `everyMs`, with a deadline that names it.

/** Waits until `cond` holds; fails naming `what` after `ms`. */
export async function until(what: string, cond: () => boolean, ms = 15_000, everyMs = 20): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
