/** The API token table in the gateway's one SQLite file. Forward-only migrations. */
import type { Migration } from '../store/index.js';

export const AUTH_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'auth: API tokens stored as the SHA-256 of their secret, with roles, grants, expiry and revocation',
    up: (db) => {
      db.exec(`
        CREATE TABLE auth_tokens (
          id TEXT PRIMARY KEY,
          name TEXT NOT NULL,
          secret_sha256 BLOB NOT NULL CHECK (length(secret_sha256) = 32),
          roles TEXT NOT NULL,
          grants TEXT NOT NULL,
          created_at INTEGER NOT NULL,
          expires_at INTEGER NOT NULL,
          revoked_at INTEGER,
          last_used_at INTEGER
        ) STRICT;
        CREATE INDEX auth_tokens_created ON auth_tokens (created_at);
      `);
    },
  },
];
