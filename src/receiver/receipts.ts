/**
 * Receipts: the ids a receiver has accepted, for de-duplication by Idempotency-Key. The kit adds
 * an id only after the data was persisted, and answers 2xx only after the receipt is written.
 * A real service should keep receipts in the same database transaction as the data it stores
 * (implement ReceiptStore over that database); the file store here is for the simulator and
 * for small services: one id per line, appended, optionally fsynced.
 */
import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface ReceiptStore {
  has(id: string): boolean;
  /** Durable once it returns (or resolves). */
  add(ids: readonly string[]): void | Promise<void>;
}

/** A receipt store that also lists what it holds in arrival order and can forget everything. */
export interface ListedReceiptStore extends ReceiptStore {
  ids(): readonly string[];
  clear(): void;
}

export function memoryReceiptStore(): ListedReceiptStore {
  const seen = new Set<string>();
  let order: string[] = [];
  return {
    has: (id) => seen.has(id),
    add(ids) {
      for (const id of ids) if (!seen.has(id)) (seen.add(id), order.push(id));
    },
    ids: () => order,
    clear() {
      seen.clear();
      order = [];
    },
  };
}

export interface FileReceiptOptions {
  /** fsync after each append: survives a power cut, costs a disk flush per request. */
  fsync?: boolean;
}

/** Ids with a newline cannot be stored one per line: the kit refuses them before they get here. */
export function fileReceiptStore(path: string, opts: FileReceiptOptions = {}): ListedReceiptStore {
  const mem = memoryReceiptStore();
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  if (existsSync(path)) mem.add(readFileSync(path, 'utf8').split('\n').filter(Boolean));
  return {
    has: mem.has,
    ids: mem.ids,
    add(ids) {
      const fresh = ids.filter((id) => !mem.has(id));
      if (!fresh.length) return;
      const text = fresh.map((id) => `${id}\n`).join('');
      if (opts.fsync) {
        const fd = openSync(path, 'a', 0o600);
        try {
          appendFileSync(fd, text);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      } else {
        appendFileSync(path, text, { mode: 0o600 });
      }
      mem.add(fresh);
    },
    clear() {
      mem.clear();
      writeFileSync(path, '', { mode: 0o600 });
    },
  };
}
