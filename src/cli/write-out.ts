// Writing what must reach the user (a recovery key) and knowing it did: the
// promise settles only when stdout took the text, and rejects when it could
// not (a closed terminal, a full disk), so the key is not counted as shown.
export function writeOut(text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    process.stdout.once('error', onError);
    process.stdout.write(text, (err) => {
      // On failure the stream emits 'error' after this callback: the listener stays to take it.
      if (err) return reject(err);
      process.stdout.off('error', onError);
      resolve();
    });
  });
}
