// The quick structural pass may only ever say "valid" where medplum's validator finds no error:
// held against the validator on every real resource we have and on thousands of mutations of them.
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { validateResource, OperationOutcomeError as MedplumOutcomeError } from '@medplum/core';
import { loadFhirDefinitions, surelyValidR4, validateStructure, OperationOutcomeError } from '../../src/fhir/index.js';
import { observation } from '../../bench/fixtures.js';

loadFhirDefinitions();

type Json = Record<string, unknown>;

/** The validator's verdict as the gateway reads it: errors refuse, except a missing required element. */
function validatorAccepts(r: unknown): boolean {
  let issues: { severity?: string; details?: { text?: string } }[];
  try {
    issues = validateResource(r as never);
  } catch (err) {
    if (!(err instanceof MedplumOutcomeError)) throw err;
    issues = err.outcome.issue ?? [];
  }
  return !issues.some((i) => (i.severity === 'error' || i.severity === 'fatal') && !i.details?.text?.startsWith('Missing required property'));
}

const fixtures = join(import.meta.dirname, '..', 'fixtures');
const real: Json[] = [];
for (const f of readdirSync(join(fixtures, 'synthea-r4')).filter((f) => f.endsWith('.json'))) {
  const bundle = JSON.parse(readFileSync(join(fixtures, 'synthea-r4', f), 'utf8')) as Json & { entry?: { resource: Json }[] };
  real.push(bundle, ...(bundle.entry ?? []).map((e) => e.resource));
}
for (const f of readdirSync(join(fixtures, 'ms-anonymizer', 'resources')).filter((f) => f.endsWith('.json'))) {
  real.push(JSON.parse(readFileSync(join(fixtures, 'ms-anonymizer', 'resources', f), 'utf8').replace(/^\uFEFF/, '')) as Json);
}
real.push(observation('p-1', 1));

t.test('on real resources it never says valid where the validator refuses, and it is sure of nearly all valid ones', async (t) => {
  let valid = 0;
  let quick = 0;
  const falseAccepts: string[] = [];
  for (const r of real) {
    const ok = validatorAccepts(r);
    const sure = surelyValidR4(r);
    if (ok) valid++;
    if (sure) quick++;
    if (sure && !ok) falseAccepts.push(String(r.resourceType));
  }
  t.same(falseAccepts, [], 'no resource the validator refuses is passed');
  t.ok(real.length > 600, `${real.length} real resources (Synthea bundles and their entries, the anonymizer's samples)`);
  // Speed is the pass's only reason: if it stepped aside for most valid data it would be dead weight.
  t.ok(quick >= 0.95 * valid, `sure of ${quick} of the ${valid} the validator accepts`);
});

// Deterministic PRNG (mulberry32) so a failure names a reproducible mutant.
function rng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let x = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every (object, key) slot in a resource. */
function slots(v: unknown, out: [Json | unknown[], string | number][] = []): [Json | unknown[], string | number][] {
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([v, i]), slots(x, out)));
  else if (v && typeof v === 'object') for (const k of Object.keys(v)) (out.push([v as Json, k]), slots((v as Json)[k], out));
  return out;
}

const MUTATIONS: [string, (slot: [Json | unknown[], string | number], r: () => number) => void][] = [
  ['unknown element', ([o]) => !Array.isArray(o) && (o.hospitalPatientName = 'Ayesha Khan')],
  ['null', ([o, k]) => ((o as Json)[k as string] = null)],
  ['empty string', ([o, k]) => ((o as Json)[k as string] = '')],
  ['whitespace string', ([o, k]) => ((o as Json)[k as string] = '   ')],
  ['empty object', ([o, k]) => ((o as Json)[k as string] = {})],
  ['empty array', ([o, k]) => ((o as Json)[k as string] = [])],
  ['number for text', ([o, k]) => typeof (o as Json)[k as string] === 'string' && ((o as Json)[k as string] = 42)],
  ['text for number', ([o, k]) => typeof (o as Json)[k as string] === 'number' && ((o as Json)[k as string] = '42')],
  ['text for boolean', ([o, k]) => typeof (o as Json)[k as string] === 'boolean' && ((o as Json)[k as string] = 'true')],
  ['fraction', ([o, k]) => typeof (o as Json)[k as string] === 'number' && ((o as Json)[k as string] = 1.5)],
  ['negative', ([o, k]) => typeof (o as Json)[k as string] === 'number' && ((o as Json)[k as string] = -3)],
  ['zero', ([o, k]) => typeof (o as Json)[k as string] === 'number' && ((o as Json)[k as string] = 0)],
  ['bad date', ([o, k]) => typeof (o as Json)[k as string] === 'string' && ((o as Json)[k as string] = '2020-13-45')],
  ['trailing junk', ([o, k]) => typeof (o as Json)[k as string] === 'string' && ((o as Json)[k as string] = `${(o as Json)[k as string] as string}  x`)],
  ['control character', ([o, k]) => typeof (o as Json)[k as string] === 'string' && ((o as Json)[k as string] = `a\u0001b`)],
  ['wrapped in an array', ([o, k]) => ((o as Json)[k as string] = [(o as Json)[k as string]])],
  ['array unwrapped', ([o, k]) => Array.isArray((o as Json)[k as string]) && ((o as Json)[k as string] = ((o as Json)[k as string] as unknown[])[0])],
  ['array doubled', ([o, k]) => Array.isArray((o as Json)[k as string]) && ((o as Json)[k as string] = [...((o as Json)[k as string] as unknown[]), ...((o as Json)[k as string] as unknown[])])],
  ['object for text', ([o, k]) => typeof (o as Json)[k as string] === 'string' && ((o as Json)[k as string] = { value: 'x' })],
  ['text for object', ([o, k]) => (o as Json)[k as string] && typeof (o as Json)[k as string] === 'object' && ((o as Json)[k as string] = 'x')],
  ['primitive extension', ([o, k]) => !Array.isArray(o) && ((o as Json)[`_${String(k)}`] = { extension: [{ url: 'http://example.org/x', valueString: 'y' }] })],
  ['second choice value', ([o]) => !Array.isArray(o) && (o.valueString = 'also', o.valueBoolean = true)],
  ['resourceType inside a datatype', ([o]) => !Array.isArray(o) && !o.resourceType && (o.resourceType = 'Patient')],
  ['unknown resource type', ([o]) => !Array.isArray(o) && typeof o.resourceType === 'string' && (o.resourceType = 'Spaceship')],
  ['value beside absent reason', ([o]) => !Array.isArray(o) && (o.dataAbsentReason = { text: 'gone' }, o.valueString = 'here')],
  ['extension with value and children', ([o]) => !Array.isArray(o) && (o.extension = [{ url: 'http://example.org/x', valueString: 'v', extension: [{ url: 'http://example.org/y', valueString: 'w' }] }])],
  ['deleted', ([o, k]) => (Array.isArray(o) ? o.splice(k as number, 1) : delete o[k as string])],
  ['bundle entry without resource type', ([o, k]) => k === 'resource' && !Array.isArray(o) && delete (o.resource as Json).resourceType],
];

t.test('on mutations of real resources it never says valid where the validator refuses', async (t) => {
  const random = rng(20261204);
  // Bundles are large (a validator pass takes tens of milliseconds): mutate the entries and a few bundles.
  const pool = real.filter((r) => r.resourceType !== 'Bundle').concat(real.filter((r) => r.resourceType === 'Bundle').slice(0, 2));
  const counts = { mutants: 0, refused: 0, sure: 0 };
  const falseAccepts: string[] = [];
  const perKind = new Map<string, number>();
  for (let i = 0; i < 4000; i++) {
    const base = pool[Math.floor(random() * pool.length)]!;
    const r = structuredClone(base);
    const all = slots(r);
    if (!all.length) continue;
    const [kind, mutate] = MUTATIONS[Math.floor(random() * MUTATIONS.length)]!;
    mutate(all[Math.floor(random() * all.length)]!, random);
    counts.mutants++;
    const ok = validatorAccepts(r);
    const sure = surelyValidR4(r);
    if (!ok) {
      counts.refused++;
      perKind.set(kind, (perKind.get(kind) ?? 0) + 1);
    }
    if (sure) counts.sure++;
    if (sure && !ok && falseAccepts.length < 5) falseAccepts.push(`mutant ${i} (${kind}) of ${String(base.resourceType)}/${String(base.id)}`);
  }
  t.same(falseAccepts, [], 'no mutant the validator refuses is passed');
  t.ok(counts.refused > 1000, `${counts.refused} of ${counts.mutants} mutants are refused by the validator (the test has teeth)`);
  t.ok(perKind.size >= 20, `refusals came from ${perKind.size} kinds of mutation`);
  t.ok(counts.sure > 500, `${counts.sure} mutants are still valid and passed quickly`);
});

t.test('the gateway still refuses with the validator\'s findings, element by element', async (t) => {
  const obs = observation('p-1', 2) as Json;
  obs.hospitalPatientName = 'Ayesha Khan';
  const err = t.throws(() => validateStructure(obs as never)) as unknown;
  t.ok(err instanceof OperationOutcomeError, 'an OperationOutcome error');
  const text = JSON.stringify((err as OperationOutcomeError).result);
  t.match(text, /Observation\.hospitalPatientName is not an element of FHIR R4/, 'names the element');
  t.notMatch(text, /Ayesha/, 'never the value');
  t.doesNotThrow(() => validateStructure(observation('p-1', 3) as never), 'a valid one passes');
});
