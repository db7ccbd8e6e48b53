import t from 'tap';
import { mapToFhir, parseHl7 } from '../../src/hl7v2/index.js';
import { DEFAULT_TIMEZONE } from '../../src/config/index.js';
import { DEFAULT_TIMEZONE as CONSENT_DEFAULT_TIMEZONE } from '../../src/consent/index.js';

const adt = (admit: string) =>
  parseHl7(
    [
      'MSH|^~\\&|HIS|HOSP|DARWAZA|PK|20240315083000||ADT^A01^ADT_A01|TZ-1|P|2.5.1',
      'PID|1||MRN-1^^^HOSP^MR||Doe^Jane||19800101|F',
      `PV1|1|I|WARD^1^A^HOSP||||||||||||||||V-1^^^HOSP_VISIT|||||||||||||||||||||||||${admit}`,
    ].join('\r'),
  );

const admitOf = (r: ReturnType<typeof mapToFhir>) => {
  if (r.kind !== 'mapped') throw new Error(r.kind);
  return (r.bundle.entry as any[]).map((e) => e.resource).find((x) => x.resourceType === 'Encounter')?.period?.start;
};

t.test('one default zone: the mapper and consent evaluation share it', async (t) => {
  t.equal(DEFAULT_TIMEZONE, 'Asia/Karachi');
  t.equal(CONSENT_DEFAULT_TIMEZONE, DEFAULT_TIMEZONE);
  t.equal(admitOf(mapToFhir(adt('202403150815'))), '2024-03-15T08:15:00+05:00', 'a time without offset is Pakistan time by default');
});

t.test('a named zone gives the offset it has at that local time (daylight saving included)', async (t) => {
  t.equal(admitOf(mapToFhir(adt('202401150815'), { defaultTimezone: 'America/New_York' })), '2024-01-15T08:15:00-05:00', 'winter');
  t.equal(admitOf(mapToFhir(adt('202407150815'), { defaultTimezone: 'America/New_York' })), '2024-07-15T08:15:00-04:00', 'summer');
  t.equal(admitOf(mapToFhir(adt('202407150815'), { defaultTimezone: 'UTC' })), '2024-07-15T08:15:00Z');
  t.equal(admitOf(mapToFhir(adt('202407150815'), { defaultTimezone: '+0530' })), '2024-07-15T08:15:00+05:30', 'fixed offsets still work');
  t.equal(admitOf(mapToFhir(adt('202407150815-0300'), { defaultTimezone: 'America/New_York' })), '2024-07-15T08:15:00-03:00', 'an offset in the message wins');
});
