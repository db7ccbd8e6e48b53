/**
 * The one-time move of rows written before row binding (ciphertext v1, bound to its scope
 * only) to v2 (bound to the row's own columns). It runs once per table, inside one
 * transaction, recorded in schema_migrations: a v1 ciphertext planted after that is never
 * read again (decrypt refuses v1), so a forger cannot have the migration launder it.
 * Rows that do not re-encrypt (altered, plaintext, key shredded) are left as they are:
 * their readers refuse and audit them.
 */
import { migrate, type Db } from '../store/index.js';
import type { AtRestCipher } from './at-rest.js';
import { AT_REST_LEGACY_VERSION } from './at-rest.js';

export interface LegacyRowSpec<Row> {
  /** schema_migrations module name, e.g. 'consent-at-rest'. */
  module: string;
  /**
   * SELECT of the rows that may hold v1 ciphertexts, one page at a time: two parameters, the
   * cursor to continue after and the page size, e.g. `… WHERE rowid > ? ORDER BY rowid LIMIT ?`.
   */
  select: string;
  /** The cursor value of a row (its rowid). */
  cursor: (row: Row) => number;
  blob: (row: Row) => Uint8Array | null;
  scope: (row: Row) => string;
  aad: (row: Row) => Uint8Array;
  /** Writes the re-encrypted blob back to the row. */
  update: (db: Db, row: Row, blob: Uint8Array) => void;
  /** Only rows this says are encrypted are touched (e.g. consent_version.encrypted = 1). */
  encrypted?: (row: Row) => boolean;
}

const PAGE = 500;

export interface RebindResult {
  rebound: number;
  /** Rows left as they were (could not be re-encrypted): their readers refuse them. */
  left: number;
}

export function rebindLegacyRows<Row>(db: Db, cipher: Pick<AtRestCipher, 'rebindLegacy'>, spec: LegacyRowSpec<Row>): RebindResult {
  const result: RebindResult = { rebound: 0, left: 0 };
  migrate(db, spec.module, [
    {
      version: 1,
      description: 'at-rest ciphertexts re-encrypted with their row bound in the associated data (format v2)',
      up(tx) {
        const page = tx.prepare(spec.select);
        let after = 0;
        for (;;) {
          const rows = page.all(after, PAGE) as Row[];
          if (rows.length === 0) break;
          after = spec.cursor(rows[rows.length - 1]!);
          for (const row of rows) visit(row);
        }
        function visit(row: Row): void {
          const blob = spec.blob(row);
          if (!blob || blob[0] !== AT_REST_LEGACY_VERSION || (spec.encrypted && !spec.encrypted(row))) return;
          let next: Uint8Array;
          try {
            next = cipher.rebindLegacy(new Uint8Array(blob), spec.scope(row), spec.aad(row));
          } catch {
            result.left++;
            return;
          }
          spec.update(tx, row, next);
          result.rebound++;
        }
      },
    },
  ]);
  return result;
}
