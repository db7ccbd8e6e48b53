/**
 * Consent lookup (forTokens: a message's patient tokens → the latest consents) on SQLite vs
 * PostgreSQL, measured in the same run: the median and 99th percentile of 1,000 sequential
 * lookups of random patients among 1,000 (a consent each, sealed by the real at-rest cipher),
 * after 200 warm-up lookups. SQLite answers from its token cache; PostgreSQL reads the
 * database every time (nothing cached but compiled versions), so the figure is one round trip
 * to a local server plus the query. A pair on separate machines adds its network round trip.
 * Run: npx tsx bench/consent-postgres.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { openDatabase } from '../src/store/index.js';
import { ConsentRegistry, postgresConsentStore, sqliteConsentStore, tokensForIds, type ConsentStore } from '../src/consent/index.js';
import { openAtRestCipher, openKeyTableCipher, postgresDataKeyTable } from '../src/crypto/index.js';
import { makeConsent, tokenize } from '../test/fixtures/consents/make.js';
import { startPostgres } from '../test/helpers/postgres.js';

const PATIENTS = 1_000;
const LOOKUPS = 1_000;
const kek = { from: 'key' as const, key: new Uint8Array(32).fill(3) };
const patientTokens = (i: number) => tokensForIds([`Patient/p${i}`, `urn:oid:2.16.586.1.1|35202-${String(1_000_000 + i)}-1`], tokenize);

async function fill(store: ConsentStore): Promise<void> {
  const all = Array.from({ length: PATIENTS }, (_, i) =>
    makeConsent({ id: `c${i}`, patient: { reference: `Patient/p${i}`, identifier: { system: 'urn:oid:2.16.586.1.1', value: `35202-${String(1_000_000 + i)}-1` } } }),
  );
  for (let i = 0; i < all.length; i += 200) await store.putMany(all.slice(i, i + 200));
}

async function lookups(store: ConsentStore): Promise<{ median: number; p99: number }> {
  let seed = 7;
  const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) % PATIENTS;
  for (let i = 0; i < 200; i++) await store.forTokens(patientTokens(next()));
  const ms: number[] = [];
  for (let i = 0; i < LOOKUPS; i++) {
    const tokens = patientTokens(next());
    const t0 = performance.now();
    const found = await store.forTokens(tokens);
    ms.push(performance.now() - t0);
    if (found.length !== 1) throw new Error('lookup found no consent');
  }
  ms.sort((a, b) => a - b);
  return { median: ms[Math.floor(ms.length / 2)]!, p99: ms[Math.floor(ms.length * 0.99)]! };
}

export async function run(): Promise<Record<string, string | number>> {
  const teardowns: (() => Promise<void> | void)[] = [];
  const fakeTest = { teardown: (fn: () => Promise<void> | void) => void teardowns.push(fn) } as unknown as Parameters<typeof startPostgres>[0];
  const dir = mkdtempSync(join(tmpdir(), 'darwaza-bench-'));
  try {
    const db = openDatabase(join(dir, 'c.db'));
    const registry = ConsentRegistry.open(db, { tokenize, cipher: await openAtRestCipher(db, { kek }) });
    const sqlite = sqliteConsentStore(registry);
    await fill(sqlite);
    const s = await lookups(sqlite);
    db.close();

    const server = await startPostgres(fakeTest);
    const pool = new pg.Pool({ connectionString: server.url, max: 4 });
    const cipher = await openKeyTableCipher(await postgresDataKeyTable(pool), { kek });
    const pgStore = await postgresConsentStore(pool, { tokenize, cipher });
    await fill(pgStore);
    const p = await lookups(pgStore);
    await pool.end();
    return {
      'forTokens SQLite median ms': +s.median.toFixed(3),
      'forTokens SQLite p99 ms': +s.p99.toFixed(3),
      'forTokens PostgreSQL median ms': +p.median.toFixed(3),
      'forTokens PostgreSQL p99 ms': +p.p99.toFixed(3),
      'ratio PostgreSQL/SQLite (median)': +(p.median / s.median).toFixed(1),
    };
  } finally {
    for (const fn of teardowns.reverse()) await fn();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log(await run());
}
