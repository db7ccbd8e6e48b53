import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { command } from '../../src/cli/commands/consent.js';
import { EXIT } from '../../src/cli/command.js';
import { captureIo } from '../helpers/cli.js';
import { openDatabase } from '../../src/store/index.js';
import { ConsentRegistry, hmacTokenizer, tokensForIds } from '../../src/consent/index.js';
import { makeRequest } from '../fixtures/consents/make.js';
import { openAtRestCipher } from '../../src/crypto/index.js';

const SAMPLE = join(process.cwd(), 'test', 'fixtures', 'consents', 'sample.ndjson');

t.test('the sample consents, imported by the CLI, decide as their README says', async (t) => {
  const cwd = t.testdir({});
  const key = Buffer.alloc(32, 3);
  writeFileSync(join(cwd, 'token.key'), key.toString('base64'));
  const { io, all: out } = captureIo({ cwd });
  t.equal(await command.run(['import', SAMPLE, '--token-key-file', 'token.key'], io), EXIT.ok, out.join('\n'));
  t.equal(readFileSync(SAMPLE, 'utf8').trim().split('\n').length, 5);

  const db = openDatabase(join(cwd, 'data', 'darwaza.db'));
  t.teardown(() => db.close());
  const tokenize = hmacTokenizer(key);
  // The import made certs/kek.key (nothing is stored in clear): read with the same key.
  const cipher = await openAtRestCipher(db, { kek: { from: 'file', path: join(cwd, 'certs', 'kek.key') } });
  const registry = ConsentRegistry.open(db, { tokenize, cipher });
  const ask = (ids: string[], o: Parameters<typeof makeRequest>[0]) =>
    registry.evaluate(tokensForIds(ids, tokenize), makeRequest({ now: new Date('2026-06-01T12:00:00+05:00'), ...o }));
  const nih = { destination: 'nih', organization: 'pk-nih-telehealth' };

  // 1: opt-in base with one exception, found by CNIC as classification writes it
  t.equal(ask(['cnic|35202-1234567-1'], { actor: nih }).effect, 'permit');
  t.equal(ask(['Patient/1001'], { actor: { destination: 'other-service' } }).effect, 'deny');
  t.equal(ask(['Patient/1001'], { actor: nih, purpose: 'PUBHLTH' }).effect, 'deny');
  t.equal(ask(['Patient/1001'], { actor: nih, now: new Date('2027-01-09T19:00:00Z') }).effect, 'deny', 'after 9 Jan 2027 in Karachi');
  // 2: PSY named for treatment; HIV denied
  t.equal(ask(['Patient/1002'], { categories: ['mental-health'] }).effect, 'permit');
  t.equal(ask(['Patient/1002'], { categories: ['mental-health'], purpose: 'HOPERAT' }).effect, 'deny');
  t.equal(ask(['Patient/1002'], { labels: [{ code: 'HIV' }] }).effect, 'deny');
  // 3: research, by MRN, Observations from 2020 on
  const research = { purpose: 'HRESCH' as const, dataPeriod: { start: '2021-01-01', end: '2025-12-31' } };
  t.equal(ask(['http://hospital.example.pk/mrn|MRN-1003'], research).effect, 'permit');
  t.equal(ask(['http://hospital.example.pk/mrn|MRN-1003'], { ...research, resourceTypes: ['Condition'] }).effect, 'deny');
  t.equal(ask(['http://hospital.example.pk/mrn|MRN-1003'], { ...research, dataPeriod: { start: '2019-05-01' } }).effect, 'deny');
  // 4: a minor whose mother signed
  t.equal(ask(['Patient/1004'], { ageYears: 9 }).effect, 'permit');
  // 5: refuses everything, even where the default would permit
  t.equal(ask(['Patient/1005'], { defaultWhenNone: 'permit' }).effect, 'deny');
});
