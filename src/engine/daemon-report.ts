// A mount daemon's word to the command that started it, on the ready pipe
// (fd 4): the line "ready", or the line "error MESSAGE" followed by "kind
// TYPE" or "code ERRNO", and "hint HINT", when the error has them. The kind
// carries the error's type across, the code an OS error's errno name, so
// that `homecrypt mount` rethrows the daemon's error as the same type, or with
// the same code, and exits with the status `--foreground` would
// (cli/exit-codes.ts derives statuses from types and codes). The daemon runs
// as the same user, yet what arrives is read as untrusted: a kind is looked up
// in a fixed table, a code must look like one, and a report the parent does
// not understand is an error saying so.
import {
  AuthenticationError,
  CorruptFileError,
  HomecryptError,
  InterruptedError,
  KeyNotAvailableError,
  MissingFeatureError,
  PermissionDeniedError,
  RefusedError,
  UnsafePermissionsError,
  UnsupportedFormatError,
  UsageError,
  WrongPassphraseError,
  type HomecryptErrorOptions,
} from '../errors.js';

type ErrorType = abstract new (...args: never[]) => HomecryptError;
type Build = (message: string, opts: HomecryptErrorOptions) => HomecryptError;

/** An error of a type built from a file and a reason, with the parent's words as its whole message (the parts are not sent). */
function fileError(type: typeof CorruptFileError | typeof UnsupportedFormatError): Build {
  return (message, opts) => {
    const err = new type('', '');
    err.message = message;
    return Object.assign(err, { hint: opts.hint });
  };
}

/**
 * The types that travel, each checked by instanceof in this order and built
 * again from a message and a hint. A subclass (MountBusyError, KdfLimitError)
 * travels as the first type here it is an instance of; an error of no type
 * here, as none (then as its errno code, if it is an OS error).
 */
const plain = (type: new (message: string, opts?: HomecryptErrorOptions) => HomecryptError): [string, [ErrorType, Build]] => [
  type.name,
  [type, (m, o) => new type(m, o)],
];
const KINDS: ReadonlyMap<string, [ErrorType, Build]> = new Map([
  ['CorruptFileError', [CorruptFileError, fileError(CorruptFileError)]],
  ['UnsupportedFormatError', [UnsupportedFormatError, fileError(UnsupportedFormatError)]],
  plain(WrongPassphraseError),
  plain(MissingFeatureError),
  plain(KeyNotAvailableError),
  plain(UsageError),
  plain(RefusedError),
  plain(UnsafePermissionsError),
  plain(AuthenticationError),
  plain(PermissionDeniedError),
  plain(InterruptedError),
  plain(HomecryptError),
]);

/** An errno name as Node's OS errors carry it ("EACCES"). */
const ERRNO_CODE = /^E[A-Z0-9]{1,15}$/;

/** What the daemon reported: ready, or its error (its kind one of KINDS' names, or none; an OS error's errno name). */
export type DaemonReport = { ready: true } | { ready: false; error: string; kind?: string; code?: string; hint?: string };

/** The most the parent reads of a report; a daemon that writes more is not understood. */
export const REPORT_MAX_BYTES = 64 * 1024;

const oneLine = (s: string): string => s.replace(/\n/g, ' ');

/** The daemon's report of `err` (the lines it writes, without the last newline). */
export function reportOf(err: unknown): string {
  const lines = [`error ${oneLine(err instanceof Error ? err.message : String(err))}`];
  const kind = [...KINDS].find(([, [type]]) => err instanceof type)?.[0];
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (kind) lines.push(`kind ${kind}`);
  else if (typeof code === 'string' && ERRNO_CODE.test(code)) lines.push(`code ${code}`);
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
    if (word === 'kind' && report.kind === undefined && report.code === undefined && KINDS.has(value)) report.kind = value;
    else if (word === 'code' && report.code === undefined && report.kind === undefined && ERRNO_CODE.test(value)) report.code = value;
    else if (word === 'hint' && report.hint === undefined) report.hint = value;
    else return malformed(`its line ${i + 2} is ${JSON.stringify(line.slice(0, 80))}`, report.error);
  }
  return report;
}

function malformed(why: string, error?: string): DaemonReport {
  const said = error ? `${error} (the rest of the daemon's report was not understood: ${why})` : `the daemon's report was not understood: ${why}`;
  return { ready: false, error: said };
}

/** The daemon's error as its own type (HomecryptError when it named none, carrying its errno name if it gave one), worded by the caller. */
export function reportedError(report: { kind?: string; code?: string; hint?: string }, message: string, hint = report.hint): HomecryptError {
  const build = report.kind !== undefined ? KINDS.get(report.kind)?.[1] : undefined;
  if (build) return build(message, { hint });
  const err = new HomecryptError(message, { hint });
  return report.code !== undefined ? Object.assign(err, { code: report.code }) : err;
}
