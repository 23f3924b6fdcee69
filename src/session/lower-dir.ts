// A new encrypted lower directory for a user: the engine's volume config for
// the mount key, naming the key store, owned by the user who will mount it.
// Created *by* that user (the user worker), so nothing here ever chowns a
// name inside a folder the user controls. Kept apart from engine-ops so the
// login hook does not load the engine.
import { chmodSync } from 'node:fs';
import { prepareLowerDir, writeNewVolumeConfig } from '../engine/volume.js';
import type { UserAccount } from '../os/users.js';
import { userWorker, type WorkerStep } from './user-worker-client.js';

/** Run as the user (by the worker): the lower directory and its config, 0700/0600. */
export function createLower(lower: string, keyStore: string, mountKey: Buffer, opts: { plaintextNames?: boolean } = {}): void {
  prepareLowerDir(lower);
  chmodSync(lower, 0o700);
  writeNewVolumeConfig(lower, mountKey, { keystore: keyStore, plaintextNames: opts.plaintextNames });
}

/** The worker step that creates it (for a batch); the mount key is its payload. */
export function initLowerStep(lower: string, keyStore: string, mountKey: Buffer, opts: { plaintextNames?: boolean } = {}): WorkerStep {
  return { req: { op: 'initLower', lower, keyStore, plaintextNames: opts.plaintextNames }, payload: mountKey };
}

/** Root's side: has the user create their lower directory; the mount key goes over the worker's pipe. */
export async function initLower(user: UserAccount, lower: string, keyStore: string, mountKey: Buffer, opts: { plaintextNames?: boolean } = {}): Promise<void> {
  const step = initLowerStep(lower, keyStore, mountKey, opts);
  await userWorker(user).run(step.req, step.payload);
}
