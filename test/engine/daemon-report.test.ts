// A mount daemon's report on the ready pipe (src/engine/daemon-report.ts): an
// error keeps its type and its hint on the way to `homecrypt mount`, which
// then exits with the status `--foreground` would; anything else arriving
// there is an error that says it was not understood, never a crash.
import { describe, expect, it } from 'vitest';
import { readReport, reportedError, reportOf, REPORT_MAX_BYTES } from '../../src/engine/daemon-report.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import { CorruptFileError, HomecryptError, KdfLimitError, MountBusyError, PermissionDeniedError, WrongPassphraseError } from '../../src/errors.js';

/** The error the parent rethrows for what the daemon threw: through the pipe's bytes and back. */
const across = (err: unknown) => {
  const report = readReport(`${reportOf(err)}\n`);
  if (report.ready) throw new Error('read as ready');
  return reportedError(report, `mount failed: ${report.error}`);
};

describe("the mount daemon's report", () => {
  it.each([
    [new PermissionDeniedError('fusermount3 said no', { hint: 'ask root' }), 11],
    [new WrongPassphraseError('wrong mount passphrase'), 3],
    [new MountBusyError('/m'), 8], // a subclass: as the type it is an instance of
    [new KdfLimitError('too much work'), 8],
    [new HomecryptError('plain'), 1],
    [new CorruptFileError('/l/homecrypt.conf', 'bad JSON'), 1], // built from a file: travels as HomecryptError
    [Object.assign(new Error('EBUSY'), { code: 'EBUSY' }), 1], // of no type: none crosses
    [new Error('a bug'), 1],
  ])('%s → exit %i in the parent, message and hint whole', (err, exit) => {
    const back = across(err);
    expect(exitCodeFor(back)).toBe(exit);
    expect(back.message).toBe(`mount failed: ${(err as Error).message}`);
    expect(back.hint).toBe(err instanceof HomecryptError ? err.hint : undefined);
  });

  it('keeps each field on its line: newlines in a message or hint become spaces', () => {
    const err = new PermissionDeniedError('one\ntwo', { hint: 'kind RefusedError\nhint x' });
    expect(reportOf(err)).toBe('error one two\nkind PermissionDeniedError\nhint kind RefusedError hint x');
    expect(readReport(reportOf(err))).toEqual({ ready: false, error: 'one two', kind: 'PermissionDeniedError', hint: 'kind RefusedError hint x' });
  });

  it('reads "ready" alone as ready, and nothing else', () => {
    expect(readReport('ready\n')).toEqual({ ready: true });
    expect(readReport('ready\nhint x\n').ready).toBe(false);
  });

  it.each([
    ['', 'the daemon\'s report was not understood: it begins ""'],
    ['garbage\n', 'the daemon\'s report was not understood: it begins "garbage"'],
    ['ok\u001b[2J\n', 'the daemon\'s report was not understood: it begins "ok?[2J"'],
    ['error no\nkind constructor\n', 'no (the rest of the daemon\'s report was not understood: its line 2 is "kind constructor")'],
    ['error no\nkind RefusedError\nkind UsageError\n', 'no (the rest of the daemon\'s report was not understood: its line 3 is "kind UsageError")'],
    ['error no\nstatus 8\n', 'no (the rest of the daemon\'s report was not understood: its line 2 is "status 8")'],
    ['x'.repeat(REPORT_MAX_BYTES + 1), `the daemon's report was not understood: it is longer than ${REPORT_MAX_BYTES} bytes`],
  ])('a malformed report %j is an error that says so, of no type', (text, error) => {
    const report = readReport(text);
    expect(report).toEqual({ ready: false, error });
    const err = reportedError(report as { kind?: string }, `mount failed: ${error}`);
    expect(err.constructor).toBe(HomecryptError);
    expect(exitCodeFor(err)).toBe(1);
  });
});
