// What `homecrypt ecryptfs migrate` is given and returns: shared by the Private
// directory flow (migrate.ts), the encrypted-home flow (migrate-home.ts) and the
// copy they both run (migrate-copy.ts), so none of them imports another's flow.
export interface MigrateOptions {
  user: string;
  loginPassphrase: Buffer;
  kdfTimeSeconds?: number;
  checkPassword: boolean;
  removeEcryptfs: boolean;
  say?: (line: string) => void;
  onProgress?: (done: { entries: number; bytes: number }, total: { entries: number; bytes: number }) => void;
  /** Called as soon as the recovery key exists (before copying), so it is shown even if copying fails. */
  onRecoveryKey?: (key: string) => void;
  /** Test hook: throw after this many entries were copied (simulates a crash). */
  failAfterEntries?: number;
}

export interface MigrateResult {
  recoveryKey: string | null;
  entries: number;
  bytes: number;
  removed: boolean;
  aside: string;
  home?: boolean;
}
