// The committed key-store vectors (test/vectors/keystore/) and temp dirs, shared by
// the tests of src/crypto, src/format and src/keys.
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const VECTOR_DIR = new URL('../vectors/keystore/', import.meta.url);

export interface VectorFile {
  version: number;
  secrets: Record<string, string>;
  slots: { name: string; kind: string; kdf: { iterations: number; memoryKiB: number; parallelism: number } }[];
}
export interface Vectors {
  mountKeyHex: string;
  keyId: string;
  recoveryKeyBytesHex: string;
  recoveryKey: string;
  files: Record<string, VectorFile>;
}

export const vectors: Vectors = JSON.parse(readFileSync(new URL('vectors.json', VECTOR_DIR), 'utf8'));

export function vectorBytes(name: string): Buffer {
  return readFileSync(new URL(name, VECTOR_DIR));
}

/** A private temp dir, removed by the returned cleanup. */
export function tempDir(prefix = 'hc-keys-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Copies a vector into `dir` with mode 0600 (git does not keep file modes). */
export function vectorCopy(name: string, dir: string): string {
  const p = join(dir, name);
  copyFileSync(new URL(name, VECTOR_DIR), p);
  chmodSync(p, 0o600);
  return p;
}

export const TEST_KDF_TIME = 0.05;
