// Whether a path names an entry of any kind, a symbolic link itself included
// (lstat, not following it): existsSync follows links, so a dangling one reads
// as nothing there.
import { lstatSync } from 'node:fs';

export function entryExists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
