/** Free space of the file system holding the database, probed at most once per interval. */
import { statfsSync } from 'node:fs';
import { dirname } from 'node:path';

export class DiskGuard {
  private checkedAt = -Infinity;
  private low = false;
  private readonly probe: () => number;

  constructor(
    file: string | undefined,
    private readonly minFreeBytes: number,
    private readonly checkMs: number,
    private readonly clock: () => number,
    probe?: () => number,
  ) {
    this.probe =
      probe ??
      (() => {
        if (!file || file === ':memory:') return Infinity;
        const st = statfsSync(dirname(file));
        return Number(st.bavail) * Number(st.bsize);
      });
  }

  /** True when less than the minimum is free (a failing probe counts as enough). */
  isLow(): boolean {
    if (this.minFreeBytes <= 0) return false;
    const now = this.clock();
    if (now - this.checkedAt >= this.checkMs || now < this.checkedAt) {
      this.checkedAt = now;
      try {
        this.low = this.probe() < this.minFreeBytes;
      } catch {
        this.low = false;
      }
    }
    return this.low;
  }
}
