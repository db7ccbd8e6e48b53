/**
 * The MLLP framer: a small state machine over the bytes of one connection.
 * A frame is 0x0B <payload> 0x1C 0x0D.
 *
 *   outside ──0x0B──► inside ──0x1C──► sawEnd ──0x0D──► (frame) outside
 *      ▲  other bytes: garbage       │  payload > max: oversize (keep a head)
 *      └──────────────────────────────┘  0x0B inside: partial frame dropped as garbage
 *
 * - Bytes outside a frame are garbage: discarded and counted, never an error.
 * - 0x1C not followed by 0x0D: taken as payload (0x1C is not valid HL7 text,
 *   but we let the parser reject the content rather than guess).
 * - 0x0B inside a frame: the sender restarted; the partial frame is garbage.
 * - A payload over maxFrameBytes is not buffered: its first `headBytes` are kept
 *   (so the ACK can still echo MSH-10), the rest is counted and dropped until
 *   the frame ends, then an 'oversize' event is emitted.
 * Splits at any byte boundary and many frames in one chunk are handled.
 */

const VT = 0x0b;
const FS = 0x1c;
const CR = 0x0d;

export type FramerEvent =
  | { kind: 'frame'; payload: Buffer }
  | { kind: 'oversize'; head: Buffer; bytes: number }
  | { kind: 'garbage'; bytes: number };

export interface FramerOptions {
  maxFrameBytes: number;
  /** Bytes of an oversize frame kept for its header (default 4096). */
  headBytes?: number;
}

type State = 'outside' | 'inside' | 'sawEnd';

export class MllpFramer {
  #state: State = 'outside';
  #parts: Buffer[] = [];
  #size = 0;
  #oversize = false;
  readonly #max: number;
  readonly #headBytes: number;

  constructor(opts: FramerOptions) {
    this.#max = opts.maxFrameBytes;
    this.#headBytes = opts.headBytes ?? 4096;
  }

  /** True while a frame has started and not ended (a close now would drop it). */
  get inFrame(): boolean {
    return this.#state !== 'outside';
  }

  /** Bytes held for the frame in progress. */
  get buffered(): number {
    return this.#oversize ? Math.min(this.#size, this.#headBytes) : this.#size;
  }

  /** Feeds one chunk; returns what it completed, in order. */
  push(chunk: Buffer): FramerEvent[] {
    const events: FramerEvent[] = [];
    let garbage = 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#state === 'outside') {
        const start = chunk.indexOf(VT, i);
        if (start < 0) {
          garbage += n - i;
          break;
        }
        garbage += start - i;
        this.#begin();
        i = start + 1;
      } else if (this.#state === 'inside') {
        // next byte of interest: FS (end) or VT (restart)
        let j = i;
        while (j < n && chunk[j] !== FS && chunk[j] !== VT) j++;
        if (j > i) this.#append(chunk.subarray(i, j));
        if (j >= n) break;
        if (chunk[j] === VT) {
          garbage += this.#size + 1; // the partial frame and its start byte
          this.#begin();
          i = j + 1;
          continue;
        }
        this.#state = 'sawEnd';
        i = j + 1;
      } else {
        // sawEnd: expecting CR
        if (chunk[i] === CR) {
          if (garbage) events.push({ kind: 'garbage', bytes: garbage }), (garbage = 0);
          events.push(this.#finish());
          this.#state = 'outside';
          i++;
        } else {
          this.#append(Buffer.from([FS]));
          this.#state = 'inside';
        }
      }
    }
    if (garbage) events.push({ kind: 'garbage', bytes: garbage });
    return events;
  }

  #begin(): void {
    this.#state = 'inside';
    this.#parts = [];
    this.#size = 0;
    this.#oversize = false;
  }

  #append(b: Buffer): void {
    const before = this.#size;
    this.#size += b.length;
    if (this.#oversize) return;
    if (this.#size > this.#max) {
      this.#oversize = true;
      const keep = Math.max(0, this.#headBytes - before);
      if (keep > 0) this.#parts.push(Buffer.from(b.subarray(0, keep)));
      const head = Buffer.concat(this.#parts);
      this.#parts = [head.subarray(0, this.#headBytes)];
      return;
    }
    this.#parts.push(b);
  }

  #finish(): FramerEvent {
    const parts = this.#parts;
    const size = this.#size;
    this.#parts = [];
    this.#size = 0;
    if (this.#oversize) {
      this.#oversize = false;
      return { kind: 'oversize', head: Buffer.concat(parts), bytes: size };
    }
    return { kind: 'frame', payload: parts.length === 1 ? Buffer.from(parts[0]) : Buffer.concat(parts, size) };
  }
}

export const MLLP = { VT, FS, CR } as const;

/** Wraps a message (or ACK) in an MLLP frame. */
export function frame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(body.length + 3);
  out[0] = VT;
  body.copy(out, 1);
  out[body.length + 1] = FS;
  out[body.length + 2] = CR;
  return out;
}
