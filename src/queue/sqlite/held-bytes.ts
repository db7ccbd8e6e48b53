/**
 * The quota's count: bytes of payloads the queue holds (ready, in flight, dead), kept
 * exact in memory (initialised from the index at open), plus bytes of accepted writes
 * still waiting for their group commit. The held count changes in one way only:
 * change(), with the bytes a committed write added or a row that lost its payload freed.
 */
export class HeldBytes {
  private held: number;
  private reserved = 0;

  constructor(
    initial: number,
    private readonly quotaBytes: number,
  ) {
    this.held = initial;
  }

  /** Bytes of payloads held. */
  get value(): number {
    return this.held;
  }

  /** + bytes a commit stored, − bytes a row no longer holds. */
  change(delta: number): void {
    this.held += delta;
  }

  /** Would a write of this many bytes still fit, counting writes not yet committed? */
  fits(bytes: number): boolean {
    return this.held + this.reserved + bytes <= this.quotaBytes;
  }

  /** At (or over) the quota now. */
  full(): boolean {
    return this.held + this.reserved >= this.quotaBytes;
  }

  /** Counts a write waiting for its commit (released with unreserve once it committed or failed). */
  reserve(bytes: number): void {
    this.reserved += bytes;
  }

  unreserve(bytes: number): void {
    this.reserved -= bytes;
  }
}
