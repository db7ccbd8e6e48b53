// The consent ports' suite against the SQLite registry and memory (real files; a second node is a second connection).
import t, { type Test } from 'tap';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/index.js';
import { ConsentRegistry, PatientMemory, sqliteConsentStore, sqlitePatientFacts } from '../../src/consent/index.js';
import type { AuditEvent } from '../../src/model/index.js';
import { testCipher, tokenize } from '../fixtures/consents/make.js';
import { consentStoreSuite, type ConsentBackend } from './consent-store-suite.js';

const open: ConsentBackend = async (t: Test) => {
  const file = join(t.testdir({}), 'darwaza.db');
  const cipher = testCipher();
  const events: AuditEvent[] = [];
  const node = () => {
    const db = openDatabase(file);
    const memory = PatientMemory.open(db, { cipher });
    const registry = ConsentRegistry.open(db, { tokenize, cipher, memory, audit: { append: (e) => void events.push(...e) } });
    t.teardown(() => {
      registry.close();
      memory.close();
      if (db.open) db.close();
    });
    return { db, memory, store: sqliteConsentStore(registry), facts: sqlitePatientFacts(memory) };
  };
  const first = node();
  const db = first.db;
  return {
    store: first.store,
    facts: first.facts,
    events,
    second: async () => node(),
    rawBlobs: async () => {
      first.memory.flush();
      return (db.prepare('SELECT resource AS b FROM consent_version UNION ALL SELECT value AS b FROM patient_memory').all() as { b: Buffer }[]).map((r) => r.b);
    },
    tamperCurrentStatus: async (id, status) => void db.prepare('UPDATE consent_current SET status = ? WHERE id = ?').run(status, id),
    tamperVersionStatus: async (id, version, status) => void db.prepare('UPDATE consent_version SET status = ? WHERE id = ? AND version = ?').run(status, id, version),
    tamperToken: async (token, id) => void db.prepare('INSERT INTO consent_token (token, id) VALUES (?, ?)').run(token, id),
  };
};

consentStoreSuite(t, open);
