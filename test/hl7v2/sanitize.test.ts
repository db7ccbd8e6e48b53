import t from 'tap';
import { createHmac } from 'node:crypto';
import { parseHl7, sanitizeV2, Hl7ParseError } from '../../src/hl7v2/index.js';
import { loadHl7 } from '../fixtures/hl7v2/load.js';

const key = Buffer.alloc(32, 7);
const pseudonymize = (id: string) => 'P' + createHmac('sha256', key).update(id).digest('hex').slice(0, 16);

t.test('names, addresses, phones and SSN are removed; identifiers pseudonymized; birth date cut to the year', async (t) => {
  const text = loadHl7('adt-a01-pk-cnic.hl7');
  const out = sanitizeV2(text, { pseudonymize });
  const m = parseHl7(out);
  const pid = m.segment('PID')!;
  t.equal(pid.rawField(5), '', 'PID-5 names');
  t.equal(pid.rawField(11), '', 'PID-11 address');
  t.equal(pid.rawField(13), '', 'PID-13 home phone');
  t.equal(pid.rawField(14), '', 'PID-14 business phone');
  t.equal(pid.rawField(19), '', 'PID-19 SSN');
  t.equal(pid.value(7), '1985', 'PID-7 birth date cut to the year');
  t.equal(pid.value(8), 'F', 'gender kept');
  t.equal(pid.value(3, 1, 1, 0), pseudonymize('3520212345671'));
  t.equal(pid.value(3, 4, 1, 0), 'NADRA', 'assigning authority kept');
  t.equal(pid.value(3, 5, 1, 0), 'NNPAK', 'identifier type kept');
  t.equal(pid.value(3, 1, 1, 1), pseudonymize('MRN-778812'));
  const nk1 = m.segment('NK1')!;
  t.equal(nk1.rawField(2), '');
  t.equal(nk1.rawField(4), '');
  t.equal(nk1.rawField(5), '');
  t.equal(nk1.value(3), 'SPO', 'relationship kept');
  t.notOk(m.segment('ZPI'), 'Z-segments dropped by default');
  t.equal(m.segment('PV1')!.rawField(19), parseHl7(text).segment('PV1')!.rawField(19), 'PV1 untouched');
  t.equal(m.header.controlId, 'SHIFA-000101', 'MSH untouched');
  for (const secret of ['Ayesha', 'عائشہ', 'خان', '3520212345671', 'MRN-778812', '2345678', 'example.pk', 'House 12', '19850704', 'Imran']) {
    t.notOk(out.includes(secret), `no trace of ${secret}`);
  }
});

t.test('without a pseudonymizer identifiers are emptied, and custom delimiters are kept', async (t) => {
  const out = sanitizeV2(loadHl7('adt-a04-custom-delims.hl7'));
  const m = parseHl7(out);
  t.equal(m.encodingChars, '@*/$');
  const pid = m.segment('PID')!;
  t.equal(pid.reps(3).length, 2);
  t.equal(pid.value(3, 1, 1, 0), '');
  t.equal(pid.value(3, 4, 1, 1), 'NADRA');
  t.notOk(out.includes('Raza'));
  t.notOk(out.includes('7654321'));
  t.notOk(out.includes('Mall Road'));
});

t.test('pseudonyms are escaped in the sender\'s encoding', async (t) => {
  const out = sanitizeV2(loadHl7('adt-a03-discharge.hl7'), { pseudonymize: () => 'a|b^c' });
  t.equal(parseHl7(out).segment('PID')!.value(3), 'a|b^c');
});

t.test('Z-segments may be kept on request; non-HL7 input throws a clear error', async (t) => {
  t.ok(parseHl7(sanitizeV2(loadHl7('oru-r01-lab-b.hl7'), { keepZSegments: true })).segment('ZLB'));
  t.throws(() => sanitizeV2('hello'), Hl7ParseError);
});
