// Typed confirmation before a destructive step, as cryptsetup asks for "YES":
// on a terminal the user types the word; a script says --force (or --yes)
// instead, and without either nothing is destroyed.
import { RefusedError, UsageError } from '../errors.js';

/**
 * Asks for `word` on a terminal. Without a terminal (or when secrets come from
 * a descriptor, i.e. a script) it refuses, naming the flag that confirms.
 */
export async function confirmTyped(warning: string, word: string, flag: string, scripted: boolean): Promise<void> {
  if (!process.stdin.isTTY || scripted) throw new RefusedError(`${warning}; ${flag} confirms it from a script`);
  process.stderr.write(`WARNING: ${warning}.\n`);
  const { input } = await import('@inquirer/prompts');
  let answer: string;
  try {
    answer = await input({ message: `Type ${word} to go on:` }, { output: process.stderr });
  } catch {
    throw new UsageError('cancelled; nothing changed');
  }
  if (answer.trim() !== word) throw new UsageError('not confirmed; nothing changed');
}
