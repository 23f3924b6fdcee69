// The options every mount command shares: how the mount is served (in this
// process, or by a daemon it starts) and the hidden pair by which a command
// hands the key to its own daemon child (--key-fd) and hears it is ready
// (--ready-fd), never through argv or the environment.
import { Command, Option } from 'commander';
import { parseFdOption } from './secret-input.js';

export interface DaemonOpts {
  foreground?: boolean;
  allowOther?: boolean;
  logFile?: string;
  keyFd?: number;
  readyFd?: number;
}

/** Adds --foreground, --allow-other, --log-file and the hidden --key-fd/--ready-fd to a mount command. */
export function withDaemonOptions(cmd: Command, help: { allowOther: string; logFile: string }): Command {
  return cmd
    .option('--foreground', 'serve the mount from this process until it is unmounted')
    .option('--allow-other', help.allowOther)
    .option('--log-file <file>', help.logFile)
    .addOption(new Option('--key-fd <n>').hideHelp().argParser(parseFdOption))
    .addOption(new Option('--ready-fd <n>').hideHelp().argParser(parseFdOption));
}

/** The daemon child's two descriptors, when this run is one (the parent passed both). */
export function daemonChildFds(o: DaemonOpts): { keyFd: number; readyFd: number } | null {
  return o.keyFd !== undefined && o.readyFd !== undefined ? { keyFd: o.keyFd, readyFd: o.readyFd } : null;
}
