/**
 * Expected values from Microsoft's processor unit tests (CryptoHashProcessorTests,
 * DateShiftProcessorTests, RedactProcessorTests), run through our engine.
 */
import t from 'tap';
import { compileProfile } from '../../src/sanitize/index.js';

const hashProfile = compileProfile(
  { fhirPathRules: [{ path: 'Resource.id', method: 'cryptoHash' }, { path: "nodesByType('Reference').reference", method: 'cryptoHash' }, { path: 'Observation.code.text', method: 'cryptoHash' }] },
  { name: 'ms-hash', keys: { cryptoHashKey: '123' } },
);

t.test('cryptoHash of whole values matches Microsoft\'s vectors (key "123")', async (t) => {
  const vectors: Array<[string, string]> = [
    ['a', '69e99e82127c1f146f50653e02b92c4bb0c3bc182a6165a5bbce5f4f94e1ccb7'],
    ['bb6f4872-e456-42d5-a9da-a0d82cb7ea29', '73defcb8fcaf4c0c3d5c77f05b479cadbe502db2ef6e9b1523d2bfee31f3b999'],
    ['urn:oid:1.2.3.4.5', '6aa8e3e9af18cae990adc9c26dc006ebf633dd1332886867a691ee2d5247dd15'],
    ['urn:uuid:c757873d-ec9a-4326-a141-556f43239520', '23a940be8f03522b52a393c7194407796bb5ea3c02b926b0e42fdab94ca30bad'],
    ['2020-04-12', '1e99c6a8b99d3c8b4906c2e80911ad3b5961fd7498d3bc2b96fb128bc7148f90'],
    ['2017-01-01T00:00:00.000Z', '4c765fc04a6f9967d493ff39238d47993c709d3392a72060efeff285cf7b2501'],
  ];
  for (const [input, expected] of vectors) {
    const out = hashProfile.apply({ resourceType: 'Observation', code: { text: input } }).resource as unknown as { code: { text: string } };
    t.equal(out.code.text, expected, input);
  }
});

t.test('cryptoHash of references hashes the id part as Microsoft does', async (t) => {
  const vectors: Array<[string, string | undefined]> = [
    ['#', '#'],
    ['#p1', '#a10e6bee4fbeb6a7804153c25688dd4dd7b9c2a005417136026350fc33ac609f'],
    ['Patient/example', 'Patient/698d54f0494528a759f19c8e87a9f99e75a5881b9267ee3926bcf62c992d84ba'],
    ['http://fhir.hl7.org/svc/StructureDefinition/c8973a22-2b5b-4e76-9c66-00639c99e61b', 'http://fhir.hl7.org/svc/StructureDefinition/b0ff9c939b3507a79e2ae3d2d3b595d62819b9b8f6ef10d4099b3058d902642f'],
    ['http://example.org/fhir/Observation/apo89654/_history/2', 'http://example.org/fhir/Observation/b1e85ca33baf76575ad28588af85b8f10c0dd40e9ed8cd57cdb7ae94ccd75695/_history/2'],
    ['urn:uuid:c757873d-ec9a-4326-a141-556f43239520', 'urn:uuid:24970eb3f915e516a2b5241c0d6979097a6357a13b89612c6a54b8ab5479df34'],
    ['urn:oid:1.2.3.4.5', 'urn:oid:0543fb50485f58a47073f51aad1677607aec031c2c83c25ee7b040ade95cfbcc'],
  ];
  for (const [input, expected] of vectors) {
    const out = hashProfile.apply({ resourceType: 'Observation', subject: { reference: input } }).resource as unknown as { subject: { reference: string } };
    t.equal(out.subject.reference, expected, input);
  }
});

t.test('date shift with key "dummy" and no resource id moves 2015-02-07 to 2015-01-17 (date, dateTime, instant)', async (t) => {
  const p = compileProfile(
    { fhirPathRules: [{ path: "nodesByType('date')", method: 'dateShift' }, { path: "nodesByType('dateTime')", method: 'dateShift' }, { path: "nodesByType('instant')", method: 'dateShift' }], parameters: { enablePartialDatesForRedact: true } },
    { name: 'ms-shift', keys: { dateShiftKey: 'dummy' } },
  );
  const out = p.apply({
    resourceType: 'Observation',
    effectiveDateTime: '2015-02-07T13:28:17-05:00',
    issued: '2015-02-07T01:01:01+00:00',
    valuePeriod: { start: '2015-02' },
    extension: [{ url: 'http://x', valueDate: '2015-02-07' }],
  }).resource as Record<string, any>;
  t.equal(out.effectiveDateTime, '2015-01-17T00:00:00-05:00');
  t.equal(out.issued, '2015-01-17T00:00:00+00:00');
  t.equal(out.valuePeriod.start, '2015', 'a month-precision dateTime is redacted to its year');
  t.equal(out.extension[0].valueDate, '2015-01-17');
  t.same(
    out.meta.security.map((c: { code: string }) => c.code),
    ['REDACTED', 'PERTURBED'],
  );
});

t.test('redact: partial dates keep the year, ages 89 stay and 91 go, postal codes keep 3 digits or zero out', async (t) => {
  const p = compileProfile(
    { fhirPathRules: [{ path: 'Resource', method: 'redact' }], parameters: { enablePartialDatesForRedact: true, enablePartialAgesForRedact: true, enablePartialZipCodesForRedact: true, restrictedZipCodeTabulationAreas: ['123'] } },
    { name: 'ms-redact' },
  );
  const out = p.apply({
    resourceType: 'Patient',
    birthDate: '2015-02',
    address: [{ postalCode: '12345' }, { postalCode: '54321' }],
    extension: [{ url: 'x', valueAge: { value: 89 } }, { url: 'y', valueAge: { value: 91 } }],
  }).resource as Record<string, any>;
  t.equal(out.birthDate, '2015');
  t.same(out.address, [{ postalCode: '00000' }, { postalCode: '54300' }]);
  t.same(out.extension, [{ valueAge: { value: 89 } }], 'url redacted, age 89 kept, age 91 gone');
});
