// A sender cannot hide text in a choice element's name: medplum's validator only warns about a
// second value of one choice element, or a key that starts like one (`effectiveHiddenName`
// beside `effectiveDateTime`), and checks nothing inside it. The gateway refuses both.
import t from 'tap';
import { startFhirGateway } from '../../helpers/fhir-gateway.js';

const CANARY = 'Ayesha Khan 35202-1234567-1';

t.test('over HTTP, a second choice value or a key that names no type of its choice element is refused with 422', async (t) => {
  const gw = await startFhirGateway(t, 'p-choice');
  const post = async (body: unknown) => {
    const res = await fetch(`${gw.baseUrl}/Observation`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${gw.senderToken}` }, body: JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  };
  const tricks: [string, Record<string, unknown>, RegExp][] = [
    ['a key after a real value', { ...gw.observation(1), valueQuantity: { value: 1 }, valueHiddenNote: CANARY }, /Observation\.valueHiddenNote is not an element of FHIR R4/],
    ['a second value of value[x]', { ...gw.observation(2), valueQuantity: { value: 1 }, valueString: CANARY }, /Observation\.valueString: value\[x\] may have one value/],
    ['beside effectiveDateTime', { ...gw.observation(3), effectiveHiddenName: CANARY }, /Observation\.effectiveHiddenName is not an element of FHIR R4/],
  ];
  const nested = gw.observation(4) as { component: Record<string, unknown>[] };
  nested.component[0]!.valueHidden = CANARY;
  tricks.push(['inside a component', nested as Record<string, unknown>, /Observation\.component\[0\]\.valueHidden is not an element of FHIR R4/]);
  for (const [name, body, pattern] of tricks) {
    const r = await post(body);
    t.equal(r.status, 422, `${name}: 422`);
    t.match(r.text, /"resourceType":"OperationOutcome"/, `${name}: an OperationOutcome`);
    t.match(r.text, pattern, `${name}: names the element`);
    t.notMatch(r.text, /Ayesha|35202/, `${name}: never the value`);
  }
  t.equal((await post(gw.observation(5))).status, 202, 'the same Observation without the trick is accepted');
  // A primitive extension on the real choice value stays valid R4.
  const extended = { ...gw.observation(6), _effectiveDateTime: { extension: [{ url: 'http://example.org/precision', valueCode: 'minute' }] } };
  t.equal((await post(extended)).status, 202, 'a primitive extension of the choice value is accepted');
});
