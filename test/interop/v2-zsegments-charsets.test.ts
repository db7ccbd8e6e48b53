/**
 * Through a real gateway (MLLP in, sealed envelopes out to recording simulators):
 * - a VXU with a Z-segment is never sent as v2 on a route that is not marked opaque (denied,
 *   the reason naming ZXX), its FHIR form names ZXX in meta.tag, and on an opaque route to a
 *   destination the policy permits opaque data for, the sealed v2 keeps the ZXX segment;
 * - the same holds for ORM, SIU and MDM messages with a Z-segment;
 * - Urdu in UTF-8 reaches the sealed FHIR name and the sealed v2 intact; latin-1 bytes
 *   declared 8859/1 leave as UTF-8 text whose MSH-18 says UNICODE UTF-8.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { frame, MllpFramer } from '../../src/ingress/mllp/index.js';
import { parseHl7, UNMAPPED_SEGMENT_TAG } from '../../src/hl7v2/index.js';
import { waitFor } from '../helpers/net.js';
import { loadHl7, withControlId, withMshField } from '../fixtures/hl7v2/load.js';
import { startV2Gateway, acceptedId, outcomesOf, generalConsent, postConsent, FHIR_DEST, V2_DEST, type V2Gateway } from '../fixtures/hl7v2/gateway.js';

async function sendBytes(port: number, bytes: Buffer): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.on('data', (d) => {
        for (const e of framer.push(d)) if (e.kind === 'frame') resolve(e.payload.toString('utf8'));
      });
      socket.on('error', reject);
      const body = Buffer.alloc(bytes.length + 3);
      body[0] = 0x0b;
      bytes.copy(body, 1);
      body[bytes.length + 1] = 0x1c;
      body[bytes.length + 2] = 0x0d;
      socket.write(body);
    });
  } finally {
    socket.destroy();
  }
}
const send = (port: number, text: string) => sendBytes(port, frame(text).subarray(1, -2));

/** An adult patient under a general consent (MRN at HOSP), in place of the fixture's PID. */
const HOSP = 'urn:darwaza:hl7v2:authority:HOSP';
const adultPid = (mrn: string, name = 'Khan^Ayesha') => `PID|1||${mrn}^^^HOSP^MR||${name}||19800101|F`;
const withPid = (text: string, pid: string) => text.replace(/^PID\|.*$/m, pid);

async function accepted(t: Test, g: V2Gateway, text: string | Buffer): Promise<string> {
  const ack = typeof text === 'string' ? await send(g.gw.mllpPort!, text) : await sendBytes(g.gw.mllpPort!, text);
  const msa = parseHl7(ack).segment('MSA')!;
  t.match(msa.value(1), /^(AA|CA)$/, 'committed');
  return acceptedId(msa.value(3));
}

const opened = (g: V2Gateway, sim: 'fhirSim' | 'v2Sim', id: string) =>
  waitFor(() => g[sim].opened.get(id), { timeoutMs: 30_000, what: `the ${sim === 'fhirSim' ? 'FHIR' : 'v2'} delivery of ${id}` });

const WITH_Z: [string, string][] = [
  ['VXU^V04', 'vxu-v04-epi.hl7'],
  ['ORM^O01', 'orm-o01-radiology.hl7'],
  ['SIU^S12', 'siu-s12.hl7'],
  ['MDM^T02', 'mdm-t02-discharge.hl7'],
];

t.test('a Z-segment: the v2 form is refused on a route not marked opaque, with a reason; the FHIR form names it', async (t) => {
  const g = await startV2Gateway(t);
  t.equal(await postConsent(g.gw, generalConsent(HOSP, 'MRN-Z1')), 201);
  for (const [type, file] of WITH_Z) {
    const text = `${withControlId(withPid(loadHl7(file), adultPid('MRN-Z1')), `Z-${type.slice(0, 3)}`)}\rZXX|1|registry-private-flag`;
    const id = await accepted(t, g, text);
    const o = outcomesOf(g.gw, id);
    t.equal(o.get(V2_DEST)?.decision, 'denied', `${type}: not as v2`);
    t.match(o.get(V2_DEST)!.reasons.join(' '), /ZXX.*opaque/, `${type}: the reason names the segment and the opaque route`);
    t.equal(o.get(FHIR_DEST)?.decision, 'queued', `${type}: the FHIR form goes (${o.get(FHIR_DEST)?.reasons.join('; ')})`);
    const fhir = JSON.parse((await opened(g, 'fhirSim', id)).payload);
    t.ok(fhir.meta.tag.some((tag: any) => tag.system === UNMAPPED_SEGMENT_TAG && tag.code === 'ZXX'), `${type}: the FHIR Bundle says ZXX was left out`);
    t.notMatch(JSON.stringify(fhir), /registry-private-flag/, `${type}: and does not carry its content`);
  }
});

t.test('a Z-segment on an opaque route to a destination permitted opaque data: the sealed v2 keeps it', async (t) => {
  const g = await startV2Gateway(t, { opaqueRoute: true, permitOpaque: true });
  t.equal(await postConsent(g.gw, generalConsent(HOSP, 'MRN-Z2')), 201);
  const text = `${withControlId(withPid(loadHl7('vxu-v04-epi.hl7'), adultPid('MRN-Z2')), 'Z-OPAQUE')}\rZXX|1|registry-private-flag`;
  const id = await accepted(t, g, text);
  const o = outcomesOf(g.gw, id);
  t.equal(o.get(V2_DEST)?.decision, 'queued', o.get(V2_DEST)?.reasons.join('; ') ?? '');
  const v2 = await opened(g, 'v2Sim', id);
  t.match(String(v2.meta.contentType), /hl7-v2/);
  t.match(v2.payload, /\rZXX\|1\|registry-private-flag/, 'the Z-segment is preserved in the v2 payload');
  t.match(v2.payload, /\rRXA\|0\|1\|20240310103000\+0500\|\|102\^DTP-Hib-Hep B\^CVX/, 'with the immunisation');
});

t.test('Urdu in UTF-8 and latin-1 reach the sealed FHIR and the sealed v2 intact', async (t) => {
  const g = await startV2Gateway(t);
  t.equal(await postConsent(g.gw, generalConsent(HOSP, 'MRN-U1')), 201);
  const note = 'NTE|1||مریض کو بخار ہے';
  const urdu = `${withControlId(withMshField(withPid(loadHl7('adt-a03-discharge.hl7'), adultPid('MRN-U1', 'خان^علی^^^^^L')), 18, 'UNICODE UTF-8'), 'CS-UTF8')}\r${note}`;
  const id = await accepted(t, g, Buffer.from(urdu, 'utf8'));
  const o = outcomesOf(g.gw, id);
  t.equal(o.get(FHIR_DEST)?.decision, 'queued', o.get(FHIR_DEST)?.reasons.join('; ') ?? '');
  t.equal(o.get(V2_DEST)?.decision, 'queued', o.get(V2_DEST)?.reasons.join('; ') ?? '');
  const fhir = JSON.parse((await opened(g, 'fhirSim', id)).payload);
  const patient = fhir.entry.find((e: any) => e.resource.resourceType === 'Patient').resource;
  t.same(patient.name[0], { use: 'official', family: 'خان', given: ['علی'] }, 'the Urdu name in the sealed FHIR');
  const v2 = await opened(g, 'v2Sim', id);
  const sealed = parseHl7(v2.payload);
  t.equal(sealed.header.characterSet, 'UNICODE UTF-8');
  t.equal(sealed.segment('NTE')!.value(3), 'مریض کو بخار ہے', 'Urdu text in the sealed v2, byte for byte');
  t.notMatch(v2.payload, /علی/, 'the v2 form is de-identified: PID-5 is removed (sanitizeV2), never mangled');

  t.equal(await postConsent(g.gw, generalConsent(HOSP, 'MRN-L1')), 201);
  const latin = `${withControlId(withMshField(withPid(loadHl7('adt-a03-discharge.hl7'), adultPid('MRN-L1', 'Müller^Jürgen')), 18, '8859/1'), 'CS-LATIN1')}\rNTE|1||Überweisung für Röntgen`;
  const lid = await accepted(t, g, Buffer.from(latin, 'latin1'));
  const lfhir = JSON.parse((await opened(g, 'fhirSim', lid)).payload);
  t.same(lfhir.entry.find((e: any) => e.resource.resourceType === 'Patient').resource.name[0], { family: 'Müller', given: ['Jürgen'] });
  const lv2 = parseHl7((await opened(g, 'v2Sim', lid)).payload);
  t.equal(lv2.header.characterSet, 'UNICODE UTF-8', 'the sealed v2 is UTF-8 and says so');
  t.equal(lv2.segment('NTE')!.value(3), 'Überweisung für Röntgen');
});
