import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dataPeriodOf, dataReferencesOf } from '../../src/consent/index.js';
import type { FhirResource } from '../../src/model/index.js';

const SYNTHEA = join(process.cwd(), 'test', 'fixtures', 'synthea-r4');

t.test('the data period spans the clinical dates, as whole days in Karachi', async (t) => {
  const bundle: FhirResource = {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { resource: { resourceType: 'Patient', id: 'p', birthDate: '1950-01-01' } },
      { resource: { resourceType: 'Observation', id: 'o1', effectiveDateTime: '2024-03-01T21:30:00Z', issued: '2024-03-02T10:00:00+05:00' } },
      { resource: { resourceType: 'Encounter', id: 'e1', period: { start: '2023-12-31T20:00:00+05:00', end: '2024-01-01T02:00:00+05:00' } } },
      { resource: { resourceType: 'Condition', id: 'c1', onsetDateTime: 'not a date' } },
    ],
  };
  t.same(dataPeriodOf(bundle), { start: '2023-12-31', end: '2024-03-02' }, '21:30Z on 1 Mar is 2 Mar in Karachi; the birth date is not data');
  t.same(dataPeriodOf(bundle, 'UTC'), { start: '2023-12-31', end: '2024-03-02' });
  t.equal(dataPeriodOf({ resourceType: 'Patient', id: 'p', birthDate: '1950' }), undefined);
  t.same(dataReferencesOf(bundle), ['Patient/p', 'Observation/o1', 'Encounter/e1', 'Condition/c1']);
});

t.test('a Synthea bundle yields a data period and a reference per identified entry', async (t) => {
  const file = join(SYNTHEA, 'Todd315_Stamm704_0ce18c7d-fd78-46d9-81b5-8bed231c337a.json');
  const bundle = JSON.parse(readFileSync(file, 'utf8')) as FhirResource & { entry: { resource: FhirResource }[] };
  const p = dataPeriodOf(bundle)!;
  t.match(p.start, /^\d{4}-\d{2}-\d{2}$/);
  t.ok(p.start <= p.end);
  const refs = dataReferencesOf(bundle);
  t.equal(refs.length, new Set(bundle.entry.map((e) => `${e.resource.resourceType}/${e.resource.id}`)).size);
});
