import t from 'tap';
import { parseHl7, Hl7ParseError, decodeEscapes, encodeEscapes, decodeHl7Bytes, headerFallback } from '../../src/hl7v2/index.js';
import { loadHl7 } from '../fixtures/hl7v2/load.js';

t.test('the header is read with the default encoding characters', async (t) => {
  const m = parseHl7(loadHl7('adt-a01-pk-cnic.hl7'));
  t.equal(m.header.messageType, 'ADT^A01');
  t.equal(m.header.messageStructure, 'ADT_A01');
  t.equal(m.header.controlId, 'SHIFA-000101');
  t.equal(m.header.version, '2.5.1');
  t.equal(m.header.acceptAckType, 'AL');
  t.equal(m.header.applicationAckType, 'NE');
  t.equal(m.header.sendingApplication, 'SHIFA_HIS');
  t.equal(m.encodingChars, '^~\\&');
  t.same(m.segments.map((s) => s.name), ['MSH', 'EVN', 'PID', 'NK1', 'PV1', 'ZPI']);
});

t.test('custom delimiters from MSH-1/MSH-2 are honoured, escapes included', async (t) => {
  const m = parseHl7(loadHl7('adt-a04-custom-delims.hl7'));
  t.same(m.encoding, { field: '#', component: '@', repetition: '*', escape: '/', subcomponent: '$' });
  t.equal(m.header.messageType, 'ADT^A04');
  t.equal(m.header.controlId, 'CLN/20240316/0007', 'the escape character itself is escaped as /E/');
  const pid = m.segment('PID')!;
  t.equal(pid.reps(3).length, 2, 'two repetitions split on *');
  t.equal(pid.value(3, 1, 1, 1), '35201-7654321-3');
  t.equal(pid.value(3, 4, 1, 1), 'NADRA');
  t.equal(pid.value(11, 1), '12 Mall Road@Gulberg', '/S/ decodes to the component separator');
  t.equal(m.segment('ZVI')!.value(2), 'vendor#specific', '/F/ decodes to the field separator');
});

t.test('a five-character MSH-2 keeps the truncation character and parses the rest', async (t) => {
  const m = parseHl7(loadHl7('oru-r01-lab-b.hl7'));
  t.equal(m.encodingChars, '^~\\&#');
  t.equal(m.encoding.truncation, '#');
  t.equal(m.header.version, '2.7');
  t.equal(m.header.applicationAckType, 'AL');
  t.equal(m.header.characterSet, 'UNICODE UTF-8');
  const pid = m.segment('PID')!;
  t.equal(pid.value(5, 1, 1, 1), 'صدیقی', 'Urdu name in the second repetition');
});

t.test('subcomponents are split and numbered from 1; repetitions past the end are empty, not errors', async (t) => {
  const m = parseHl7(loadHl7('adt-a01-pk-cnic.hl7'));
  const pid = m.segment('PID')!;
  t.equal(pid.value(3, 4, 1, 1), 'SHIFA_MRN');
  t.equal(pid.value(3, 4, 2, 1), '2.16.586.1.99.1');
  t.equal(pid.value(3, 4, 3, 1), 'ISO');
  t.equal(pid.value(3, 1, 1, 9), '');
  t.equal(pid.value(99), '');
  t.equal(pid.value(11, 1), 'House 12^Street 5|G-9/4', '\\S\\ and \\F\\ decode inside a component');
  t.equal(pid.value(11, 3), 'اسلام آباد');
});

t.test('every standard escape sequence decodes, and encoding round-trips', async (t) => {
  const enc = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };
  t.equal(decodeEscapes('a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f', enc), 'a|b^c&d~e\\f');
  t.equal(decodeEscapes('line\\.br\\two', enc), 'line\ntwo');
  t.equal(decodeEscapes('\\X41C3A9\\', enc), 'Aé', 'hex escape as UTF-8');
  t.equal(decodeEscapes('\\H\\bold\\N\\', enc), 'bold');
  t.equal(decodeEscapes('\\Q\\ left', enc), '\\Q\\ left', 'unknown sequences stay as written');
  t.equal(decodeEscapes('""', enc), '', 'the explicit null is empty');
  const s = 'x|y^z&w~v\\u\nend';
  t.equal(decodeEscapes(encodeEscapes(s, enc), enc), s);
  const m = parseHl7(loadHl7('oru-r01-lab-a.hl7'));
  const obx5 = m.all('OBX')[4];
  t.equal(obx5.value(5), 'Sample & slide reviewed|see note ^ H~E \\ ok');
});

t.test('segments may be separated by CR, LF or CRLF, and a trailing separator is ignored', async (t) => {
  const base = loadHl7('adt-a03-discharge.hl7');
  for (const sep of ['\r', '\n', '\r\n']) {
    const m = parseHl7(base.split('\r').join(sep) + sep);
    t.same(m.segments.map((s) => s.name), ['MSH', 'EVN', 'PID', 'PV1'], JSON.stringify(sep));
  }
});

t.test('bad input throws Hl7ParseError naming the field, never quoting content', async (t) => {
  const cases: [string, RegExp, string][] = [
    ['hello world', /does not start with an MSH/, 'MSH'],
    ['{"resourceType":"Patient"}', /does not start with an MSH/, 'MSH'],
    ['MSH|^~|A', /MSH-2/, 'MSH-2'],
    ['MSH|^^\\&|A|B', /MSH-2/, 'MSH-2'],
    ['MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|2.5\rpid|1||SECRET-ID', /segment 2 has an invalid name/, 'segment 2'],
    ['MSH|^~\\&|A|B|C|D|20240101||ADT^A01||P|2.5\rPID|1||SECRET-ID', /MSH-10/, 'MSH-10'],
    ['MSH|^~\\&|A|B|C|D|20240101||ADT^A01|X1|P|\rPID|1||SECRET-ID', /MSH-12/, 'MSH-12'],
    ['MSH|^~\\&|A|B|C|D|20240101|||X1|P|2.5', /MSH-9/, 'MSH-9'],
  ];
  for (const [text, re, loc] of cases) {
    try {
      parseHl7(text);
      t.fail(`should throw for ${loc}`);
    } catch (err) {
      t.ok(err instanceof Hl7ParseError);
      const e = err as Hl7ParseError;
      t.match(e.message, re);
      t.equal(e.location, loc);
      t.notMatch(e.message, /SECRET/);
    }
  }
});

t.test('a parse error keeps what MSH gave, so the ACK can still echo MSH-10', async (t) => {
  try {
    parseHl7('MSH|^~\\&|A|B|C|D|20240101||ADT^A01|CTRL-9|P|\rPID|1');
    t.fail('should throw');
  } catch (err) {
    t.equal((err as Hl7ParseError).fallback.header.controlId, 'CTRL-9');
  }
  t.equal(headerFallback('garbage').header.controlId, '');
});

t.test('bytes decode as UTF-8 unless MSH-18 says 8859/1', async (t) => {
  const utf8 = Buffer.from('MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rPID|1||1||خان', 'utf8');
  t.match(decodeHl7Bytes(utf8), /خان/);
  const latin = Buffer.concat([
    Buffer.from('MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5||||||8859/1\rPID|1||1||M', 'latin1'),
    Buffer.from([0xfc, 0x6c, 0x6c, 0x65, 0x72]),
  ]);
  t.match(decodeHl7Bytes(latin), /Müller$/);
});

t.test('the gaps we fill are real: @medplum/core alone leaves escapes raw and throws past the last repetition', async (t) => {
  const { Hl7Message } = await import('@medplum/core');
  const text = 'MSH|^~\\&#|A|B|C|D|1||ORU^R01|1|P|2.7\rOBX|1|ST|x||a\\F\\b\r';
  const m = Hl7Message.parse(text);
  t.equal(m.getSegment('OBX')!.getField(5).getComponent(1), 'a\\F\\b', 'medplum: escape left as written');
  t.throws(() => m.getSegment('OBX')!.getField(5).getComponent(1, undefined, 3), TypeError, 'medplum: repetition past the end throws');
  t.equal(m.segments[m.segments.length - 1].name, '', 'medplum: a trailing CR makes an empty segment');
  t.equal(m.getSegment('MSH')!.getField(2).toString(), '^~\\&', 'medplum: the truncation character is dropped from MSH-2');
  const ours = parseHl7(text);
  t.equal(ours.segment('OBX')!.value(5), 'a|b');
  t.equal(ours.segment('OBX')!.value(5, 1, 1, 3), '');
  t.same(ours.segments.map((s) => s.name), ['MSH', 'OBX']);
  t.equal(ours.encodingChars, '^~\\&#');
});
