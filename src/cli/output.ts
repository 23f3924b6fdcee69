// How a command reports, chosen once per run: text for people, or for
// programs `--json` (the result as one JSON document on stdout, an error as one
// JSON line on stderr; `setup` and `ecryptfs migrate|adopt` print JSON Lines,
// the recovery key as soon as it is made and then the result), `--progress-json` (progress as JSON lines on stderr)
// and `--quiet` (no progress and no notes; results, recovery keys and errors
// still appear). Commands add the options with `reporting()` and print through
// `result()`, `note()` and `progressReporter()` (progress.ts).
import type { Command } from 'commander';

export interface OutputFlags {
  json?: boolean;
  quiet?: boolean;
  progressJson?: boolean;
}

let flags: OutputFlags = {};

/** Set from the command's parsed options (a preAction hook) or, before parsing, from argv. */
export function setOutputFlags(f: OutputFlags): void {
  flags = { json: !!f.json, quiet: !!f.quiet, progressJson: !!f.progressJson };
}

export function outputFlags(): Readonly<OutputFlags> {
  return flags;
}

/** The flags as argv asks for them, for errors raised before a command's options are parsed. */
export function flagsFromArgv(argv: string[]): OutputFlags {
  const end = argv.indexOf('--');
  const args = end < 0 ? argv : argv.slice(0, end);
  return { json: args.includes('--json'), quiet: args.includes('--quiet') || args.includes('-q'), progressJson: args.includes('--progress-json') };
}

/** Adds --json and --quiet (and --progress-json for long work) to a command that reports. */
export function reporting(cmd: Command, o: { json?: string; progress?: boolean } = {}): Command {
  if (!cmd.options.some((x) => x.long === '--json')) cmd.option('--json', o.json ?? 'print the result as JSON on stdout (errors as one JSON line on stderr)');
  cmd.option('-q, --quiet', 'print no progress and no notes (results, recovery keys and errors still appear)');
  if (o.progress) cmd.option('--progress-json', 'report progress as JSON lines on stderr');
  return cmd;
}

/** Every command of the tree that has --json gets --quiet too (one interface, whichever file made the command). */
export function completeReporting(program: Command): void {
  for (const cmd of program.commands) {
    if (cmd.options.some((x) => x.long === '--json') && !cmd.options.some((x) => x.long === '--quiet')) reporting(cmd);
    completeReporting(cmd);
  }
}

/** The command's result: `json` when --json was given, else the text (lines end with \n). */
export function result(json: unknown, text: string | (() => string)): void {
  if (flags.json) process.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
  else process.stdout.write(typeof text === 'function' ? text() : text);
}

/** One JSON line: commands that show a recovery key before long work print JSON Lines (the key, then the result). */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value)}\n`;
}

/** A note for people on stderr ("homecrypt: …"); silent with --quiet or --json. */
export function note(line: string): void {
  if (flags.quiet || flags.json) return;
  process.stderr.write(`homecrypt: ${line}\n`);
}

/** The error a JSON caller reads: one line on stderr. */
export function jsonErrorLine(message: string, exitCode: number, code: string): string {
  return `${JSON.stringify({ error: { message, code, exitCode } })}\n`;
}
