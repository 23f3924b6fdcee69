// A mount daemon's word to the command that started it, on the ready pipe
// (fd 4): the line "ready", or the line "error MESSAGE" followed by "kind
// TYPE" and "hint HINT" when the error has them. The kind carries the error's
// type across, so that `homecrypt mount` rethrows the daemon's refusal as the
// same type and exits with the status `--foreground` would (cli/exit-codes.ts
// derives statuses from types). The daemon runs as the same user, yet what
// arrives is read as untrusted: a kind is looked up in a fixed table, and a
// report the parent does not understand is an error saying so.
import {
  AuthenticationError,
  HomecryptError,
  InterruptedError,
  KeyNotAvailableError,
  MissingFeatureError,
  PermissionDeniedError,
  RefusedError,
  UnsafePermissionsError,
  UsageError,
  WrongPassphraseError,
  type HomecryptErrorOptions,
} from '../errors.js';

/**
 * The types that travel, each built from a message and a hint. A subclass
 * (MountBusyError, KdfLimitError) travels as the first type here it is an
 * instance of; CorruptFileError and UnsupportedFormatError, built from a file
 * and a reason, travel as HomecryptError; an error of no type here, as none.
 */
const KINDS: ReadonlyMap<string, new (message: string, opts?: HomecryptErrorOptions) => HomecryptError> = new Map([
  ['WrongPassphraseError', WrongPassphraseError],
  ['MissingFeatureError', MissingFeatureError],
  ['KeyNotAvailableError', KeyNotAvailableError],
  ['UsageError', UsageError],
  ['RefusedError', RefusedError],
  ['UnsafePermissionsError', UnsafePermissionsError],
  ['AuthenticationError', AuthenticationError],
  ['PermissionDeniedError', PermissionDeniedError],
  ['InterruptedError', InterruptedError],
  ['HomecryptError', HomecryptError],
]);

/** What the daemon reported: ready, or its error (its kind one of KINDS' names, or none). */
export type DaemonReport = { ready: true } | { ready: false; error: string; kind?: string; hint?: string };

/** The most the parent reads of a report; a daemon that writes more is not understood. */
export const REPORT_MAX_BYTES = 64 * 1024;

const oneLine = (s: string): string => s.replace(/\n/g, ' ');

/** The daemon's report of `err` (the lines it writes, without the last newline). */
export function reportOf(err: unknown): string {
  const lines = [`error ${oneLine(err instanceof Error ? err.message : String(err))}`];
  const kind = [...KINDS].find(([, type]) => err instanceof type)?.[0];
  if (kind) lines.push(`kind ${kind}`);
  // what to do goes along too (a refusal's remedy, such as fusermount3's)
  if (err instanceof HomecryptError && err.hint) lines.push(`hint ${oneLine(err.hint)}`);
  return lines.join('\n');
}

/** What arrived on the ready pipe, read defensively: anything but a well-formed report is an error that says so. */
export function readReport(text: string): DaemonReport {
  if (text.length > REPORT_MAX_BYTES) return malformed(`it is longer than ${REPORT_MAX_BYTES} bytes`);
  // a terminal is no place for a control character the daemon wrote (any but the newlines that part the lines, and tabs)
  const lines = text
    .replace(/[^\n\t\P{Cc}]/gu, '?')
    .replace(/\n$/, '')
    .split('\n');
  const [first = '', ...more] = lines;
  if (first === 'ready' && more.length === 0) return { ready: true };
  if (!first.startsWith('error ')) return malformed(`it begins ${JSON.stringify(first.slice(0, 80))}`);
  const report: DaemonReport = { ready: false, error: first.slice('error '.length) };
  for (const [i, line] of more.entries()) {
    const [word = '', ...rest] = line.split(' ');
    const value = rest.join(' ');
    if (word === 'kind' && report.kind === undefined && KINDS.has(value)) report.kind = value;
    else if (word === 'hint' && report.hint === undefined) report.hint = value;
    else return malformed(`its line ${i + 2} is ${JSON.stringify(line.slice(0, 80))}`, report.error);
  }
  return report;
}

function malformed(why: string, error?: string): DaemonReport {
  const said = error ? `${error} (the rest of the daemon's report was not understood: ${why})` : `the daemon's report was not understood: ${why}`;
  return { ready: false, error: said };
}

/** The daemon's error as its own type (HomecryptError when it named none), worded by the caller. */
export function reportedError(report: { kind?: string; hint?: string }, message: string, hint = report.hint): HomecryptError {
  const type = (report.kind !== undefined && KINDS.get(report.kind)) || HomecryptError;
  return new type(message, { hint });
}
