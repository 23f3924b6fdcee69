// One progress style for every long piece of work (home migration and undo,
// block wipe, eCryptfs copy): label, bar, percent, count, bytes, rate, ETA.
// On a terminal one line redrawn in place; otherwise a line per 10 % (logs and
// installers stay short); with --progress-json a JSON line per update (at most
// 5 a second, and the last); with --quiet (or --json alone) nothing.
import { outputFlags } from './output.js';

export interface ProgressSample {
  /** items done and in all (files, entries); omit for byte-only work such as a wipe */
  done?: number;
  total?: number;
  bytes: number;
  totalBytes?: number;
}

const MiB = 1024 * 1024;
const WIDTH = 30;

function clock(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** The fraction done: by bytes when there are bytes to go by, else by count. */
function fractionOf(s: ProgressSample): number {
  if (s.totalBytes) return Math.min(1, s.bytes / s.totalBytes);
  if (s.total) return Math.min(1, (s.done ?? 0) / s.total);
  return s.totalBytes === 0 || s.total === 0 ? 1 : 0;
}

export interface ProgressLine {
  label: string;
  fraction: number;
  done?: number;
  total?: number;
  unit?: string;
  bytes: number;
  totalBytes?: number;
  rate: number;
  eta: number | null;
}

/** The words of one progress line (without the bar): "120/300 files, 4.7/11.7 MiB, 3.1 MiB/s, ETA 0:02". */
export function progressText(p: ProgressLine): string {
  const parts: string[] = [];
  if (p.done !== undefined) parts.push(`${p.done}${p.total !== undefined ? `/${p.total}` : ''} ${p.unit ?? 'files'}`);
  parts.push(`${(p.bytes / MiB).toFixed(1)}${p.totalBytes !== undefined ? `/${(p.totalBytes / MiB).toFixed(1)}` : ''} MiB`);
  parts.push(`${(p.rate / MiB).toFixed(1)} MiB/s`);
  if (p.eta !== null && p.fraction < 1) parts.push(`ETA ${clock(p.eta)}`);
  return parts.join(', ');
}

/** A reporter for one piece of work; call it with each sample (the last one at 100 %). */
export function progressReporter(label: string, unit = 'files', now: () => number = Date.now): (s: ProgressSample) => void {
  const mode = outputFlags();
  const tty = !!process.stderr.isTTY;
  let start: number | null = null; // from the first sample: key derivation before it is not copying time
  let lastDecile = -1;
  let lastJson = -Infinity;
  let lastDraw = -Infinity;
  let finished = false;
  return (s) => {
    if (finished) return;
    const fraction = fractionOf(s);
    const t = now();
    start ??= t;
    const elapsed = (t - start) / 1000;
    const rate = elapsed > 0 ? s.bytes / elapsed : 0;
    const eta = fraction > 0 && elapsed > 0 ? (elapsed * (1 - fraction)) / fraction : null;
    const line: ProgressLine = {
      label,
      fraction,
      done: s.done,
      total: s.total,
      unit: s.done !== undefined ? unit : undefined,
      bytes: s.bytes,
      totalBytes: s.totalBytes,
      rate,
      eta,
    };
    if (fraction >= 1) finished = true;
    if (mode.progressJson) {
      if (!finished && t - lastJson < 200) return;
      lastJson = t;
      process.stderr.write(
        `${JSON.stringify({
          progress: {
            label,
            percent: Math.floor(fraction * 100),
            done: s.done ?? null,
            total: s.total ?? null,
            unit: line.unit ?? null,
            bytes: s.bytes,
            totalBytes: s.totalBytes ?? null,
            bytesPerSecond: Math.round(rate),
            etaSeconds: eta === null ? null : Math.round(eta),
          },
        })}\n`,
      );
      return;
    }
    if (mode.quiet || mode.json) return;
    const pct = Math.floor(fraction * 100);
    if (tty) {
      if (!finished && t - lastDraw < 100) return;
      lastDraw = t;
      const fill = Math.round(fraction * WIDTH);
      // \x1b[K clears what a longer previous line left
      process.stderr.write(
        `\r${label} [${'#'.repeat(fill)}${'.'.repeat(WIDTH - fill)}] ${String(pct).padStart(3)}% ${progressText(line)}\x1b[K${finished ? '\n' : ''}`,
      );
    } else {
      const d = Math.floor(pct / 10);
      if (d === lastDecile) return;
      lastDecile = d;
      process.stderr.write(`${label}: ${pct}% (${progressText(line)})\n`);
    }
  };
}
