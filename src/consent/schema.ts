/**
 * The consent tables, in the gateway's one SQLite file (forward-only migrations).
 *
 * consent_version  every version ever received, with when; the resource is a blob
 *                  (encrypted under scope "consent" when a PayloadCipher is given).
 * consent_current  the latest version per consent id (what lookups evaluate).
 * consent_token    patient token → consent id, for the latest version only. A token is a
 *                  keyed hash of a patient id string: no patient identifier is kept in clear.
 */
import type { Db, Migration } from '../store/index.js';

export const CONSENT_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'consent registry: versions, current pointer, patient-token index',
    up: (db: Db) => {
      db.exec(`
        CREATE TABLE consent_version (
          id TEXT NOT NULL,
          version INTEGER NOT NULL,
          status TEXT NOT NULL,
          received_at TEXT NOT NULL,
          reason TEXT,
          encrypted INTEGER NOT NULL,
          resource BLOB NOT NULL,
          PRIMARY KEY (id, version)
        ) STRICT;
        CREATE TABLE consent_current (
          id TEXT PRIMARY KEY,
          version INTEGER NOT NULL,
          status TEXT NOT NULL,
          received_at TEXT NOT NULL
        ) STRICT;
        CREATE TABLE consent_token (
          token TEXT NOT NULL,
          id TEXT NOT NULL,
          PRIMARY KEY (token, id)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX consent_token_by_id ON consent_token (id);
      `);
    },
  },
];
