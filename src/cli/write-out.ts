// Writing what must reach the user (a recovery key) and knowing it did: the
// promise settles only when stdout took the text, and rejects when it could
// not (a closed terminal, a full disk), so the key is not counted as shown.
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    process.stdout.once('error', reject);
    process.stdout.write(text, (err) => {
      if (err) reject(err);
      else resolve();
    });
  });
}
