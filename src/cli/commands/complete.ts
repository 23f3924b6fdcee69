// `homecrypt complete KIND [ARG]` (hidden): the words bash completion offers
// for an argument, one per line — volume names, key IDs, slot names of a key
// store, keyslot numbers of a LUKS2 device, homecrypt users. Needs no secret;
// anything it cannot read offers nothing (completion must never print errors).
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { volumeStatus } from '../../block/volumes.js';
import { Device } from '../../block/device.js';
import { loadHeader } from '../../block/luks2-volume.js';
import { readKeyStoreInfo } from '../../keys/key-store.js';
import { listMountKeys } from '../../os/keyring.js';
import { listUserRecords } from '../../session/user-record.js';

const KINDS: Record<string, (arg?: string) => string[]> = {
  volumes: () => volumeStatus().map((v) => v.name),
  'key-ids': () => listMountKeys().map((k) => k.keyId),
  slots: (file) => readKeyStoreInfo(file!).slots.map((s) => s.name),
  keyslots: (dev) => {
    const d = Device.open(resolve(dev!), false);
    try {
      return loadHeader(d).header.metadata.keyslots.map((k) => k.id);
    } finally {
      d.close();
    }
  },
  users: () => listUserRecords().map((r) => r.user),
};

export function registerCompleteCommand(program: Command): void {
  program
    .command('complete', { hidden: true })
    .argument('<kind>', Object.keys(KINDS).join(', '))
    .argument('[arg]')
    .action((kind: string, arg?: string) => {
      let words: string[] = [];
      try {
        words = KINDS[kind]?.(arg) ?? [];
      } catch {
        /* nothing to offer */
      }
      if (words.length) process.stdout.write(`${words.join('\n')}\n`);
    });
}
