/**
 * Versions 2.3 to 2.8 (MSH-12) and the character sets of MSH-18, as the MLLP handler answers
 * them: every mapped message type in every accepted version is committed and maps to valid R4;
 * an unknown version gets AR with an ERR at MSH-12 (in the ERR layout of the sender's version);
 * Urdu in UTF-8 and umlauts in ISO 8859-1 reach the FHIR name intact; an undeclared or
 * unreadable character set is refused naming MSH-18.
 */
import t from 'tap';
import { handleFrame, DEFAULT_SUPPORTED_VERSIONS, type MllpAccept, type MllpAcceptInput } from '../../../src/ingress/mllp/index.js';
import { parseHl7, SUPPORTED_CHARSETS } from '../../../src/hl7v2/index.js';
import type { FhirResource } from '../../../src/model/index.js';
import { loadHl7, withMshField } from '../../fixtures/hl7v2/load.js';
import { r4Issues } from '../../fixtures/hl7v2/r4.js';

const seg = (ack: string, name: string) => parseHl7(ack).segment(name)!;
const utf8 = (s: string) => Buffer.from(s, 'utf8');

function recorder() {
  const seen: MllpAcceptInput[] = [];
  const accept: MllpAccept = async (input) => {
    seen.push(input);
    return { kind: 'accepted', messageId: `m-${seen.length}`, storedAck: input.ackFor(`m-${seen.length}`) };
  };
  return { seen, accept };
}

const FIXTURES = ['adt-a01-pk-cnic.hl7', 'oru-r01-lab-a.hl7', 'orm-o01-radiology.hl7', 'oml-o21-lab.hl7', 'siu-s12.hl7', 'mdm-t02-discharge.hl7', 'vxu-v04-epi.hl7'];
const VERSIONS = ['2.3', '2.3.1', '2.4', '2.5', '2.5.1', '2.6', '2.7', '2.7.1', '2.8', '2.8.1', '2.8.2'];

t.test('versions 2.3 through 2.8.2 are accepted by default', async (t) => {
  t.same([...DEFAULT_SUPPORTED_VERSIONS].sort(), [...VERSIONS].sort());
});

for (const version of VERSIONS) {
  t.test(`v${version}: every mapped message type is committed and maps to valid FHIR R4`, async (t) => {
    const { seen, accept } = recorder();
    for (const name of FIXTURES) {
      const text = withMshField(loadHl7(name), 12, version);
      const r = await handleFrame(utf8(text), null, { accept });
      t.equal(r.result, 'accepted', `${name} accepted`);
      t.ok(r.codes.every((code) => code === 'AA' || code === 'CA'), `${name}: ${r.codes.join(',')}`);
      t.equal(seg(r.acks[0], 'MSH').value(12), version, 'the ACK speaks the sender’s version');
      const fhir = seen.at(-1)!.fhir as FhirResource;
      t.equal(fhir.resourceType, 'Bundle');
      t.same(r4Issues(fhir), [], `${name} as v${version} maps to valid R4`);
    }
  });
}

t.test('an unknown version is answered AR with an ERR naming MSH-12, in the layout of that version', async (t) => {
  const { seen, accept } = recorder();
  for (const version of ['2.1', '2.2', '2.9', '3.0', 'X1']) {
    const r = await handleFrame(utf8(withMshField(loadHl7('vxu-v04-epi.hl7'), 12, version).replace('|ER|AL', '||')), null, { accept });
    t.equal(r.result, 'rejected');
    const msa = seg(r.acks[0], 'MSA');
    t.equal(msa.value(1), 'AR', version);
    t.equal(msa.value(2), 'VXU-000501');
    t.equal(msa.value(3), `version ${version} is not supported`);
    const err = seg(r.acks[0], 'ERR');
    if (!version.startsWith('2.1') && !version.startsWith('2.2')) {
      // Later (and unreadable) versions get the current layout.
      t.same([err.value(2, 1), err.value(2, 3), err.value(3, 1), err.value(3, 3)], ['MSH', '12', '203', 'HL70357'], 'v2.5+ layout: ERR-2/3');
      t.equal(err.value(8), `version ${version} is not supported`, 'ERR-8 says it in words');
    } else {
      t.same([err.value(1, 1), err.value(1, 3), err.value(1, 4, 1)], ['MSH', '12', '203'], 'older layout: ERR-1 ELD');
    }
  }
  t.equal(seen.length, 0, 'nothing reached the pipeline');
});

t.test('UNICODE UTF-8: an Urdu name in PID-5 reaches the FHIR name, and the text handed on is the same Unicode', async (t) => {
  const { seen, accept } = recorder();
  const text = withMshField(loadHl7('adt-a03-discharge.hl7'), 18, 'UNICODE UTF-8').replace(/^PID\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|[^|]*/m, 'PID|$1|$2|$3|$4|خان^علی^^^^^L');
  const r = await handleFrame(utf8(text), null, { accept });
  t.equal(r.result, 'accepted');
  const patient = (seen[0].fhir as any).entry[0].resource;
  t.same(patient.name[0], { use: 'official', family: 'خان', given: ['علی'] });
  t.match(seen[0].text, /\|خان\^علی\^/);
  t.equal(parseHl7(seen[0].text).header.characterSet, 'UNICODE UTF-8');
});

t.test('8859/1: latin-1 bytes are decoded as such, and the text handed on declares UNICODE UTF-8', async (t) => {
  const { seen, accept } = recorder();
  const text = withMshField(loadHl7('adt-a03-discharge.hl7'), 18, '8859/1').replace(/^PID\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|[^|]*/m, 'PID|$1|$2|$3|$4|Müller^Jürgen');
  const bytes = Buffer.from(text, 'latin1');
  t.equal(bytes.indexOf(Buffer.from('Müller', 'utf8')), -1, 'the bytes really are latin-1, not UTF-8');
  const r = await handleFrame(bytes, null, { accept });
  t.equal(r.result, 'accepted');
  t.same((seen[0].fhir as any).entry[0].resource.name[0], { family: 'Müller', given: ['Jürgen'] });
  t.match(seen[0].text, /Müller\^Jürgen/);
  t.equal(parseHl7(seen[0].text).header.characterSet, 'UNICODE UTF-8', 'stored and sent as UTF-8, and says so');
});

t.test('8859/2 and 8859/15 are read with their own tables', async (t) => {
  const { seen, accept } = recorder();
  // 0xA3 is Ł in 8859-2 (£ in 8859-1); 0xA4 is € in 8859-15 (¤ in 8859-1).
  const base = withMshField(loadHl7('adt-a03-discharge.hl7'), 18, '8859/2').replace(/^PID\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|[^|]*/m, 'PID|$1|$2|$3|$4|@ukasz');
  const latin2 = Buffer.from(base, 'latin1');
  latin2[latin2.indexOf('@ukasz')] = 0xa3;
  t.equal((await handleFrame(latin2, null, { accept })).result, 'accepted');
  t.equal((seen[0].fhir as any).entry[0].resource.name[0].family, 'Łukasz');
  const euro = Buffer.from(withMshField(loadHl7('adt-a03-discharge.hl7'), 18, '8859/15').replace(/^PID\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|[^|]*/m, 'PID|$1|$2|$3|$4|@uro'), 'latin1');
  euro[euro.indexOf('@uro')] = 0xa4;
  t.equal((await handleFrame(euro, null, { accept })).result, 'accepted');
  t.equal((seen[1].fhir as any).entry[0].resource.name[0].family, '€uro');
});

t.test('ASCII: plain ASCII is accepted; a byte outside ASCII is refused naming MSH-18', async (t) => {
  const { seen, accept } = recorder();
  const ascii = withMshField(loadHl7('adt-a03-discharge.hl7'), 18, 'ASCII');
  t.equal((await handleFrame(utf8(ascii), null, { accept })).result, 'accepted');
  const bad = Buffer.from(ascii.replace(/^PID\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|[^|]*/m, 'PID|$1|$2|$3|$4|Ren\u00e9'), 'latin1');
  const r = await handleFrame(bad, null, { accept });
  t.equal(r.result, 'rejected');
  t.equal(seg(r.acks[0], 'MSA').value(1), 'AR');
  t.equal(seg(r.acks[0], 'MSA').value(2), 'SHIFA-000103', 'MSA-2 still echoes MSH-10');
  t.match(seg(r.acks[0], 'MSA').value(3), /MSH-18 declares ASCII/);
  t.notMatch(r.acks[0], /Ren/, 'no content quoted');
  t.equal(seen.length, 1);
});

t.test('UNICODE UTF-8 declared but the bytes are not UTF-8: refused, never read with replacement characters', async (t) => {
  const { seen, accept } = recorder();
  const text = withMshField(loadHl7('adt-a03-discharge.hl7'), 18, 'UNICODE UTF-8').replace(/^PID\|([^|]*)\|([^|]*)\|([^|]*)\|([^|]*)\|[^|]*/m, 'PID|$1|$2|$3|$4|Müller');
  const r = await handleFrame(Buffer.from(text, 'latin1'), null, { accept });
  t.equal(seg(r.acks[0], 'MSA').value(1), 'AR');
  t.match(seg(r.acks[0], 'MSA').value(3), /not valid UTF-8/);
  t.equal(seen.length, 0);
});

t.test('an unsupported MSH-18 is answered AR (CR in enhanced mode) with an ERR at MSH-18, table value not found', async (t) => {
  const { seen, accept } = recorder();
  for (const cs of ['UNICODE UTF-16', 'UNICODE', 'ISO IR87', 'GB 18030-2000', 'EBCDIC']) {
    const r = await handleFrame(utf8(withMshField(loadHl7('oru-r01-lab-a.hl7'), 18, cs)), null, { accept });
    t.equal(r.result, 'rejected', cs);
    t.equal(seg(r.acks[0], 'MSA').value(1), 'AR');
    t.match(seg(r.acks[0], 'MSA').value(3), new RegExp(`MSH-18 character set ${cs} is not supported`));
    const err = seg(r.acks[0], 'ERR');
    t.same([err.value(2, 1), err.value(2, 3), err.value(3, 1)], ['MSH', '18', '103']);
  }
  const enhanced = await handleFrame(utf8(withMshField(withMshField(loadHl7('oru-r01-lab-a.hl7'), 15, 'AL'), 18, 'UNICODE UTF-32')), null, { accept });
  t.same(enhanced.codes, ['CR']);
  t.equal(seen.length, 0);
  t.ok(SUPPORTED_CHARSETS.includes('UNICODE UTF-8'));
});
