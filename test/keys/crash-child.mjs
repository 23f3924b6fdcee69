// Child of crash-atomicity.test.ts: performs one key-store change and SIGKILLs
// itself at the requested step of the atomic replacement. Its request (with the
// test passphrases) arrives on stdin, never in argv.
import { readFileSync } from 'node:fs';

const ks = await import(new URL('../../dist/keys/key-store.js', import.meta.url).href);
process.stdout.write('ready\n'); // loaded: a parent starting several at once waits for this
const req = JSON.parse(readFileSync(0, 'utf8'));
const onStep = (step) => {
  if (step === req.killAt) process.kill(process.pid, 'SIGKILL');
};
const b = (s) => Buffer.from(s, 'utf8');
if (req.op === 'create') {
  await ks.createKeyStore(req.path, { passphrase: b(req.newSecret), kdfTimeSeconds: req.kdfTime, onStep });
} else if (req.op === 'rewrap') {
  await ks.rewrapLogin(req.path, b(req.oldSecret), b(req.newSecret), { onStep });
} else if (req.op === 'add-passphrase') {
  await ks.addPassphraseSlot(req.path, b(req.oldSecret), b(req.newSecret), { onStep, name: req.name });
}
process.stdout.write('done\n');
