/**
 * Per-stage timings of POST /fhir/{type}, for finding where a request's time goes. Off unless
 * DARWAZA_STAGE_TIMES names a file (then a summary of each 200 requests is appended to it: medians
 * and p99 per stage in ms, numbers only). Off, mark() is one branch.
 */
import { appendFileSync } from 'node:fs';

const file = process.env.DARWAZA_STAGE_TIMES;
const on = !!file;
const WINDOW = 200;
const rows: number[][] = [];
const names = ['body', 'check', 'ingest', 'answer'];

export interface StageClock {
  mark(): void;
  done(): void;
}

const off: StageClock = { mark() {}, done() {} };

export function stageClock(): StageClock {
  if (!on) return off;
  const t = [performance.now()];
  return {
    mark: () => void t.push(performance.now()),
    done: () => {
      t.push(performance.now());
      rows.push(t.slice(1).map((x, i) => x - t[i]));
      if (rows.length >= WINDOW) report();
    },
  };
}

function report(): void {
  const q = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
  const parts = names.map((n, i) => {
    const xs = rows.map((r) => r[i] ?? 0);
    return `${n} p50 ${q(xs, 0.5).toFixed(2)} p99 ${q(xs, 0.99).toFixed(2)}`;
  });
  appendFileSync(file!, `stage times (ms, last ${rows.length}): ${parts.join('; ')}\n`);
  rows.length = 0;
}
