/**
 * Consent bench: a registry of 100k patients × 3 consents (SQLite file, AES-GCM at rest),
 * then decisions by patient token (indexed lookup + cached compiled provisions + evaluation).
 * Targets (issue 5): ≤ 20 µs per decision including lookup; import ≥ 5,000 consents/s.
 * Figures are medians over batches of 1000 (µs per decision as CPU time and wall time); baselines (evaluation alone, lookup alone) measured in the same run.
 * BENCH_CONSENT_PATIENTS overrides 100,000.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDatabase } from '../src/store/index.js';
import { ConsentRegistry, DEFAULT_CACHE_SIZE, evaluateConsent, tokensForIds, type ConsentRequest } from '../src/consent/index.js';
import type { FhirResource, PayloadCipher } from '../src/model/index.js';

const PATIENTS = Number(process.env.BENCH_CONSENT_PATIENTS ?? 100_000);
const BATCH = 1000;
const PER_BATCH = Math.floor(BATCH / 3);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function aesGcm(): PayloadCipher {
  const key = randomBytes(32);
  return {
    encrypt(plain) {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([c.update(plain), c.final()]);
      return Buffer.concat([iv, c.getAuthTag(), body]);
    },
    decrypt(cipher) {
      const b = Buffer.from(cipher);
      const d = createDecipheriv('aes-256-gcm', key, b.subarray(0, 12));
      d.setAuthTag(b.subarray(12, 28));
      return Buffer.concat([d.update(b.subarray(28)), d.final()]);
    },
    shred() {},
  };
}

const base = (i: number, k: number, patient: Record<string, unknown>): FhirResource => ({
  resourceType: 'Consent',
  id: `p${i}-c${k}`,
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: k === 1 ? 'research' : 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient,
  dateTime: '2026-01-01T09:00:00+05:00',
  performer: [{ reference: `Patient/${i}` }],
});

/** Three consents per patient: a general permit naming PSY, a research consent with 3-deep exceptions, an org-specific deny. */
function consentsFor(i: number): FhirResource[] {
  const patient = { reference: `Patient/${i}` };
  return [
    {
      ...base(i, 0, patient),
      provision: {
        type: 'permit',
        period: { start: '2026-01-01', end: '2027-12-31' },
        provision: [{ type: 'permit', securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }], purpose: [{ code: 'TREAT' }] }],
      },
    },
    {
      ...base(i, 1, { identifier: { system: 'http://hospital/mrn', value: `MRN${i}` } }),
      provision: {
        type: 'deny',
        provision: [
          {
            type: 'permit',
            purpose: [{ code: 'HRESCH' }],
            provision: [{ type: 'deny', class: [{ code: 'Condition' }], provision: [{ type: 'permit', dataPeriod: { start: '2020-01-01' } }] }],
          },
        ],
      },
    },
    {
      ...base(i, 2, patient),
      provision: {
        type: 'permit',
        provision: [{ type: 'deny', actor: [{ role: { coding: [{ code: 'IRCP' }] }, reference: { reference: `Organization/org-${i % 50}` } }], securityLabel: [{ code: 'R' }] }],
      },
    },
  ];
}

export async function run(): Promise<Record<string, string | number>> {
  const dir = mkdtempSync(join(tmpdir(), 'dz-consent-bench-'));
  const db = openDatabase(join(dir, 'darwaza.db'));
  const key = randomBytes(32);
  const tokenize = (id: string) => createHmac('sha256', key).update(id).digest('base64url');
  // The gateway's own at-rest cipher (src/crypto, libsodium) when it loads; AES-256-GCM (node:crypto) otherwise.
  let cipher: PayloadCipher;
  let cipherName = 'src/crypto at-rest';
  try {
    const { openAtRestCipher } = await import('../src/crypto/index.js');
    cipher = await openAtRestCipher(db, { kek: { from: 'key', key: randomBytes(32) } });
  } catch {
    cipher = aesGcm();
    cipherName = 'node:crypto AES-256-GCM';
  }
  const registry = ConsentRegistry.open(db, { tokenize, cipher, cacheSize: PATIENTS * 3 + 10, clock: () => new Date('2026-06-01T00:00:00Z') });
  try {
    // Import.
    const rates: number[] = [];
    const t0 = performance.now();
    for (let start = 0; start < PATIENTS; start += PER_BATCH) {
      const resources: FhirResource[] = [];
      for (let i = start; i < Math.min(PATIENTS, start + PER_BATCH); i++) resources.push(...consentsFor(i));
      const s = performance.now();
      registry.putMany(resources);
      rates.push(resources.length / ((performance.now() - s) / 1000));
    }
    const importSeconds = (performance.now() - t0) / 1000;
    const total = registry.count();
    registry.close(); // drop the cache: decisions start cold

    const request = (i: number): ConsentRequest => ({
      actor: { destination: 'nhs-pk', organization: `org-${(i * 7) % 50}` },
      purpose: i % 3 === 0 ? 'HRESCH' : 'TREAT',
      categories: i % 5 === 0 ? ['mental-health'] : [],
      labels: i % 4 === 0 ? [{ code: 'R' }] : [{ code: 'N' }],
      resourceTypes: ['Observation', 'Condition'],
      dataPeriod: { start: '2024-01-01', end: '2025-06-30' },
      ageYears: 40,
      now: new Date('2026-06-01T12:00:00+05:00'),
      defaultWhenNone: 'deny',
    });
    const ids = (i: number) => [`Patient/${i}`, `http://hospital/mrn|MRN${i}`];
    const tokens: string[][] = [];
    for (let i = 0; i < PATIENTS; i++) tokens.push(tokensForIds(ids(i), tokenize));
    const order = Array.from({ length: PATIENTS }, (_, i) => i).sort(() => Math.random() - 0.5);

    // Cold: first touch of each patient (lookup + decrypt + parse + compile + evaluate).
    // Per-decision µs per batch of 1000, as wall time and as this process's CPU time (the
    // machine may be shared: CPU time is what a decision costs, wall time what it waited too).
    const timeBatches = (n: number, fn: (k: number) => void): { wall: number[]; cpu: number[] } => {
      const wall: number[] = [];
      const cpu: number[] = [];
      for (let b = 0; b < n; b += BATCH) {
        const size = Math.min(BATCH, n - b);
        const c0 = process.cpuUsage();
        const s = performance.now();
        for (let k = b; k < b + size; k++) fn(k);
        wall.push(((performance.now() - s) * 1000) / size);
        const c = process.cpuUsage(c0);
        cpu.push((c.user + c.system) / size);
      }
      return { wall, cpu };
    };
    const decisions = { permit: 0, deny: 0, partial: 0 };
    const cold = timeBatches(PATIENTS, (k) => {
      const i = order[k]!;
      const d = registry.evaluate(tokens[i]!, request(i));
      decisions[d.outcome === 'permit-with-obligations' ? 'partial' : d.effect]++;
    });
    // Warm: every consent is now cached.
    const warm = timeBatches(PATIENTS, (k) => {
      const i = order[(k * 7919) % PATIENTS]!;
      registry.evaluate(tokens[i]!, request(i));
    });
    const warmWithTokenize = timeBatches(PATIENTS, (k) => {
      const i = order[(k * 104729) % PATIENTS]!;
      registry.evaluate(tokensForIds(ids(i), tokenize), request(i));
    });
    // Baselines: lookup alone, evaluation alone.
    const lookup = timeBatches(PATIENTS, (k) => void registry.forTokens(tokens[order[k]!]!));
    const compiled = Array.from({ length: 1000 }, (_, i) => registry.forTokens(tokens[i]!).map((c) => c.compiled));
    const evalOnly = timeBatches(PATIENTS, (k) => void evaluateConsent(compiled[k % 1000]!, request(k)));

    const rssAllCached = Math.round(process.memoryUsage().rss / 2 ** 20);
    registry.close(); // free the full cache before measuring the bounded one

    // Steady state with the DEFAULT cache size (100k compiled consents for 300k stored), uniform random
    // patients (a worst case: a real day's working set is far smaller): misses cost a cold decode.
    const bounded = ConsentRegistry.open(db, { tokenize, cipher });
    timeBatches(PATIENTS, (k) => {
      const i = order[(k * 31) % PATIENTS]!;
      bounded.evaluate(tokens[i]!, request(i));
    });
    const steady = timeBatches(PATIENTS, (k) => {
      const i = order[(k * 7919 + 13) % PATIENTS]!;
      bounded.evaluate(tokens[i]!, request(i));
    });
    bounded.close();

    const fig = (x: { wall: number[]; cpu: number[] }) => `${median(x.cpu).toFixed(2)} cpu / ${median(x.wall).toFixed(2)} wall`;
    return {
      'consent.registry consents': total,
      'consent.cipher': cipherName,
      'consent.import consents/s (median of 1000-consent batches)': Math.round(median(rates)),
      'consent.import consents/s (overall)': Math.round(total / importSeconds),
      'consent.decision µs cold (lookup+decrypt+compile+evaluate)': fig(cold),
      'consent.decision µs warm (lookup+evaluate)': fig(warm),
      'consent.decision µs warm incl. tokenizing 2 ids': fig(warmWithTokenize),
      [`consent.decision µs steady, default cache (${DEFAULT_CACHE_SIZE} of ${total})`]: fig(steady),
      'consent.lookup only µs (baseline)': fig(lookup),
      'consent.evaluate only µs (baseline)': fig(evalOnly),
      'consent.warm decision cpu / target 20 µs': +(median(warm.cpu) / 20).toFixed(2),
      'consent.decisions permit/partial/deny (cold pass)': `${decisions.permit}/${decisions.partial}/${decisions.deny}`,
      'consent.rss MiB with all compiled consents cached': rssAllCached,
      'consent.load average at end': loadavg()[0]!.toFixed(1),
    };
  } finally {
    registry.close();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(64)} ${v}`);
}
