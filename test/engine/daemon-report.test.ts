// A mount daemon's report on the ready pipe (src/engine/daemon-report.ts): an
// error keeps its type and its hint on the way to `homecrypt mount`, which
// then exits with the status `--foreground` would; anything else arriving
// there is an error that says it was not understood, never a crash.
import { describe, expect, it } from 'vitest';
import { readReport, reportedError, reportOf, REPORT_MAX_BYTES } from '../../src/engine/daemon-report.js';
import { exitCodeFor } from '../../src/cli/exit-codes.js';
import {
  CorruptFileError,
  HomecryptError,
  KdfLimitError,
  MountBusyError,
  PermissionDeniedError,
  UnsupportedFormatError,
  WrongPassphraseError,
} from '../../src/errors.js';

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
    [new CorruptFileError('/l/homecrypt.conf', 'bad JSON'), 4], // built from a file: its words come back whole
    [new UnsupportedFormatError('/l/homecrypt.conf', 'format 9'), 5],
    [Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }), 8], // an OS error: its code crosses
    [Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' }), 11],
    [Object.assign(new Error('ENOSPC: no space left'), { code: 'ENOSPC' }), 1],
    // a bug: --foreground exits 70 (internal), with the stack under HOMECRYPT_DEBUG; the parent has no stack to show
    [Object.assign(new Error('odd'), { code: 'ERR_SOMETHING' }), 1, 70], // not an errno name: nothing crosses
    [new Error('a bug'), 1, 70],
  ] as [Error, number, number?][])('%s → exit %i in the parent, message and hint whole', (err, exit, foreground = exit) => {
    const back = across(err);
    expect(exitCodeFor(back)).toBe(exit);
    expect(exitCodeFor(err)).toBe(foreground); // the status of `homecrypt mount --foreground`
    expect(back).toBeInstanceOf(HomecryptError);
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
    ['error no\ncode eacces\n', 'no (the rest of the daemon\'s report was not understood: its line 2 is "code eacces")'],
    ['error no\ncode EACCES\ncode EPERM\n', 'no (the rest of the daemon\'s report was not understood: its line 3 is "code EPERM")'],
    ['error no\nkind RefusedError\ncode EACCES\n', 'no (the rest of the daemon\'s report was not understood: its line 3 is "code EACCES")'],
    ['x'.repeat(REPORT_MAX_BYTES + 1), `the daemon's report was not understood: it is longer than ${REPORT_MAX_BYTES} bytes`],
  ])('a malformed report %j is an error that says so, of no type', (text, error) => {
    const report = readReport(text);
    expect(report).toEqual({ ready: false, error });
    const err = reportedError(report as { kind?: string }, `mount failed: ${error}`);
    expect(err.constructor).toBe(HomecryptError);
    expect(exitCodeFor(err)).toBe(1);
  });
});
