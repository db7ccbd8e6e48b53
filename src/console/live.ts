/**
 * Live figures: a chart sampler (queue depth and deliveries per minute, per destination,
 * kept in memory for the last hour) and the server-sent-event clients of the overview,
 * which get fresh figures every few seconds while connected. Timers are unref'd: the
 * console never keeps the process alive.
 */
export interface ChartSeries {
  /** Epoch seconds of each sample. */
  t: number[];
  /** destination → values aligned with t. */
  depth: Record<string, number[]>;
  perMinute: Record<string, number[]>;
}

export const CHART_POINTS = 360;

/** A ring of samples; `add` takes the total waiting and the cumulative delivered count per destination. */
export class Sampler {
  private readonly t: number[] = [];
  private readonly depth = new Map<string, number[]>();
  private readonly perMinute = new Map<string, number[]>();
  private lastDelivered = new Map<string, number>();
  private lastAt: number | undefined;

  add(atMs: number, waiting: Record<string, number>, deliveredDay: Record<string, number>): void {
    const names = new Set([...Object.keys(waiting), ...this.depth.keys()]);
    const minutes = this.lastAt === undefined ? 0 : (atMs - this.lastAt) / 60_000;
    this.t.push(Math.round(atMs / 1000));
    for (const n of names) {
      if (!this.depth.has(n)) {
        this.depth.set(n, Array(this.t.length - 1).fill(null));
        this.perMinute.set(n, Array(this.t.length - 1).fill(null));
      }
      this.depth.get(n)!.push(waiting[n] ?? 0);
      const before = this.lastDelivered.get(n);
      const nowCount = deliveredDay[n] ?? 0;
      // The day window slides, so a drop is not negative throughput: count only growth.
      const rate = before === undefined || minutes <= 0 ? 0 : Math.max(0, nowCount - before) / minutes;
      this.perMinute.get(n)!.push(Math.round(rate * 10) / 10);
    }
    this.lastDelivered = new Map(Object.entries(deliveredDay));
    this.lastAt = atMs;
    if (this.t.length > CHART_POINTS) {
      this.t.shift();
      for (const a of [...this.depth.values(), ...this.perMinute.values()]) a.shift();
    }
  }

  series(): ChartSeries {
    return { t: [...this.t], depth: Object.fromEntries([...this.depth].map(([k, v]) => [k, [...v]])), perMinute: Object.fromEntries([...this.perMinute].map(([k, v]) => [k, [...v]])) };
  }
}

/** One connected page: a writer of SSE frames. */
export type LiveClient = (event: string, data: string) => Promise<void> | void;

/** Frames an event for text/event-stream: every line of data gets its own `data:` prefix. */
export function sseFrame(event: string, data: string): string {
  return `event: ${event}\n${data.split('\n').map((l) => `data: ${l}`).join('\n')}\n\n`;
}
