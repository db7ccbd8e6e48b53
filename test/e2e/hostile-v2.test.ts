/**
 * A sender cannot make HL7 v2 data look safer than it is. The gateway runs in this process
 * (real MLLP and HTTP sockets on loopback, a real SQLite file); a FHIR and an HL7 v2
 * destination both sit in Pakistan, opt-in. Each attack is sent over MLLP under a general
 * consent, and the test reads what the gateway decided for each destination.
 */
import t, { type Test } from 'tap';
import net from 'node:net';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import { startGateway, type RunningGateway } from '../../src/gateway/index.js';
import { loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { createLogger } from '../../src/log/index.js';
import { frame, MllpFramer } from '../../src/ingress/mllp/index.js';
import { testConfig } from '../helpers/config.js';
import { declareInPack, packEntryFor } from '../helpers/pack.js';
import { freePort, waitFor } from '../helpers/net.js';
import { REPO } from '../helpers/processes.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';

const V2 = 'v2-telemed';
const FHIR = 'national-telemed';
const FAST_RETRY = { maxAttempts: 50, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 3_600_000 };

const quiet = () => createLogger({ level: 'fatal', destination: new Writable({ write: (_c, _e, done) => done() }) });

async function sendMllp(port: number, text: string): Promise<string> {
  const socket = net.connect({ port, host: '127.0.0.1' });
  const framer = new MllpFramer({ maxFrameBytes: 1 << 20 });
  try {
    return await new Promise<string>((resolve, reject) => {
      socket.on('data', (d) => {
        for (const e of framer.push(d)) if (e.kind === 'frame') resolve(e.payload.toString('utf8'));
      });
      socket.on('error', reject);
      socket.write(frame(text));
    });
  } finally {
    socket.destroy();
  }
}

async function postJson(port: number, path: string, body: unknown) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body: JSON.stringify(body) });
  return { status: r.status, body: (await r.json()) as any };
}

/** The FHIR system the v2 mapper gives PID-3 assigned by HOSP. */
const HOSP = 'urn:darwaza:hl7v2:authority:HOSP';

/** A general consent (no category named) filed under the patient's MRN with its assigner. */
const generalConsent = (mrn: string) => ({
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { identifier: { system: HOSP, value: mrn } } as { identifier: { system: string; value: string } },
  dateTime: '2026-01-01',
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
  provision: { type: 'permit', period: { start: '2026-01-01' } },
});

let seq = 0;
function adt(mrn: string, extra: string[] = [], pid?: string): { text: string; control: string } {
  const control = `HV-${++seq}`;
  const text = [
    `MSH|^~\\&|HIS|HOSP|DARWAZA|PK|20260301083000||ADT^A01^ADT_A01|${control}|P|2.5.1`,
    'EVN|A01|20260301083000',
    pid ?? `PID|1||${mrn}^^^HOSP^MR||Khan^Ayesha||19800101|F`,
    'PV1|1|I|WARD^1^A^HOSP',
    ...extra,
  ].join('\r');
  return { text, control };
}

function oru(mrn: string, obx: string[]): { text: string; control: string } {
  const control = `HV-${++seq}`;
  const text = [
    `MSH|^~\\&|LAB|HOSP|DARWAZA|PK|20260301083000||ORU^R01^ORU_R01|${control}|P|2.5.1`,
    `PID|1||${mrn}^^^HOSP^MR||Khan^Ayesha||19800101|F`,
    'OBR|1||L-1|24323-8^Panel^LN|||20260301080000',
    ...obx,
  ].join('\r');
  return { text, control };
}

interface Outcome {
  name: string;
  decision: string;
  reasons: string[];
}

/** The outcomes the gateway stored for the message last accepted from this control id. */
function outcomesOf(gw: RunningGateway, control: string): Map<string, Outcome> {
  const row = gw.db
    .prepare("SELECT m.outcomes FROM queue_messages m JOIN queue_idempotency i ON i.message_id = m.id WHERE i.key LIKE '%|' || ?")
    .get(control) as { outcomes: string } | undefined;
  const fallback = row ?? (gw.db.prepare('SELECT outcomes FROM queue_messages ORDER BY received_at DESC, rowid DESC LIMIT 1').get() as { outcomes: string });
  return new Map((JSON.parse(fallback.outcomes) as Outcome[]).map((o) => [o.name, o]));
}

async function setup(t: Test, opts: { opaqueRoute?: boolean; permitOpaque?: boolean } = {}) {
  const dir = t.testdir();
  const simPort = await freePort();
  const v2SimPort = await freePort();
  const policyDir = join(dir, 'policy');
  mkdirSync(policyDir);
  let policy = readFileSync(join(REPO, 'policies', 'pk', 'pk.policy.yaml'), 'utf8').replace(/file: \.\.\/profiles\//g, `file: ${join(REPO, 'policies', 'profiles')}/`);
  if (opts.permitOpaque) {
    policy = policy.replace('    when:\n      data: { opaque: true }\n', `    when:\n      data: { opaque: true }\n      destination: { name: { not: [${V2}] } }\n`);
  }
  writeFileSync(join(policyDir, 'pk.policy.yaml'), policy);
  const config = testConfig((c) => {
    c.dataDir = join(dir, 'data');
    c.certsDir = join(dir, 'certs');
    c.listen = { lan: '127.0.0.1:0', admin: '127.0.0.1:0', mllp: '127.0.0.1:0' };
    c.simulator = { embedded: false, listen: `127.0.0.1:${simPort}` };
    c.dispatcher = { pollMs: 50, breakerFailures: 100, breakerCooldownMs: 200 };
    c.policy.path = policyDir;
    c.policy.profilesDir = join(REPO, 'policies', 'profiles');
    const base = c.destinations[0];
    base.url = `http://127.0.0.1:${simPort}/ingest`;
    base.retry = FAST_RETRY;
    // Its own receiver: a simulator records one envelope per message id.
    c.destinations.push({ ...structuredClone(base), name: V2, organization: V2, format: 'hl7v2', url: `http://127.0.0.1:${v2SimPort}/ingest` });
    c.routes = [
      { name: 'fhir', match: { purpose: ['TREAT'] }, destinations: [FHIR] },
      { name: 'v2', match: { format: ['hl7v2'], purpose: ['TREAT'] }, destinations: [V2], ...(opts.opaqueRoute ? { opaque: true } : {}) },
    ];
  }, dir);
  // The test's pack declares the destinations its config adds, as an operator's signed pack would.
  declareInPack(join(policyDir, 'pk.policy.yaml'), config.destinations.map((d) => packEntryFor(d as never)));
  const keys = await loadOrCreateKeyStore(config.certsDir);
  keys.ensureKekFile();
  keys.demoRecipient(FHIR);
  keys.demoRecipient(V2);
  const sim = await startRecordingSimulator(config.certsDir, simPort);
  const v2Sim = await startRecordingSimulator(config.certsDir, v2SimPort);
  const gw = await startGateway(config, { logger: quiet(), simulator: false });
  t.teardown(async () => {
    await gw.stop();
    await sim.stop();
    await v2Sim.stop();
  });
  return { gw, sim: v2Sim };
}

async function accepted(t: Test, gw: RunningGateway, m: { text: string; control: string }) {
  const ack = await sendMllp(gw.mllpPort!, m.text);
  t.match(ack, new RegExp(`MSA\\|(AA|CA)\\|${m.control}`), 'the sender gets its commit ACK');
  return outcomesOf(gw, m.control);
}

t.test('hostile HL7 v2 under a general consent', async (t) => {
  const { gw, sim } = await setup(t);
  t.equal((await postJson(gw.lanPort, '/fhir/Consent', generalConsent('MRN-H1'))).status, 201, 'a general consent is filed');

  await t.test('control: a plain ADT^A01 goes to both destinations, and the v2 envelope carries its labels', async (t) => {
    const o = await accepted(t, gw, adt('MRN-H1'));
    t.equal(o.get(FHIR)?.decision, 'queued');
    t.equal(o.get(V2)?.decision, 'queued', o.get(V2)?.reasons.join('; ') ?? '');
    const env = await waitFor(() => [...sim.opened.values()].find((e) => e.meta.destination === V2 && String(e.meta.contentType).includes('hl7-v2')), { timeoutMs: 15_000, what: 'the v2 delivery' });
    t.match(String(env.meta.securityLabels), /v3-Confidentiality\|N/, 'v2 envelope metadata carries the confidentiality label');
  });

  await t.test('finding 6: an ADT^A01 with DG1 B20 (HIV) is not released under a general consent, as v2 or FHIR', async (t) => {
    const o = await accepted(t, gw, adt('MRN-H1', ['DG1|1||B20^HIV disease^I10']));
    t.equal(o.get(V2)?.decision, 'denied', 'not to the v2 destination');
    t.equal(o.get(FHIR)?.decision, 'denied', 'not to the FHIR destination either');
    t.match(o.get(V2)!.reasons.join(' '), /HIV|categor/i, 'the reason names the sensitive category');
  });

  await t.test('a Z-segment carrying a diagnosis: never as v2 without an opaque route', async (t) => {
    const o = await accepted(t, gw, adt('MRN-H1', ['ZDX|1|B20^HIV disease^I10']));
    t.equal(o.get(V2)?.decision, 'denied');
    t.match(o.get(V2)!.reasons.join(' '), /ZDX|opaque|HIV|categor/i);
  });

  await t.test('a harmless Z-segment: still not sent as v2 (nobody classified it)', async (t) => {
    const o = await accepted(t, gw, adt('MRN-H1', ['ZPV|1|room note']));
    t.equal(o.get(V2)?.decision, 'denied');
    t.match(o.get(V2)!.reasons.join(' '), /ZPV.*opaque/, 'the reason names the segment and the opaque route');
    t.equal(o.get(FHIR)?.decision, 'queued', 'the FHIR form (which leaves the Z-segment out) still goes');
  });

  await t.test('OBX-5 text naming an ICD code (F32.9) is sensitive', async (t) => {
    const o = await accepted(t, gw, oru('MRN-H1', ['OBX|1|ST|11450-4^Problem^LN||Dx: F32.9 depressive episode||||||F']));
    t.equal(o.get(V2)?.decision, 'denied');
    t.equal(o.get(FHIR)?.decision, 'denied');
  });

  await t.test('an NTE with another CNIC: no consent applies (two identities)', async (t) => {
    // The CNIC belongs to someone with a general consent of their own, filed by CNIC.
    const other = generalConsent('unused');
    other.patient = { identifier: { system: 'cnic', value: '35202-1111111-1' } };
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', other)).status, 201);
    const o = await accepted(t, gw, adt('MRN-NOCONSENT', ['NTE|1||guardian 35202-1111111-1']));
    t.equal(o.get(FHIR)?.decision, 'denied', "the note's CNIC does not lend its consent to the patient");
    t.equal(o.get(V2)?.decision, 'denied');
  });

  await t.test('two PIDs: the second patient does not lend its consent, and the v2 form is not sent', async (t) => {
    const m = adt('MRN-NOCONSENT', ['PID|2||MRN-H1^^^HOSP^MR||Khan^Ayesha||19800101|F']);
    const o = await accepted(t, gw, m);
    t.equal(o.get(FHIR)?.decision, 'denied');
    t.equal(o.get(V2)?.decision, 'denied');
    const both = await accepted(t, gw, adt('MRN-H1', ['PID|2||MRN-H1^^^HOSP^MR||Khan^Ayesha||19800101|F']));
    t.equal(both.get(V2)?.decision, 'denied', 'even when both PIDs have consent, a repeated PID is not understood as v2');
    t.match(both.get(V2)!.reasons.join(' '), /PID \(repeated\)/);
  });
});

t.test('opaque v2 goes only through an opaque route to a destination the policy permits opaque data for', async (t) => {
  await t.test('opaque route, policy denies opaque data: denied with the policy reason', async (t) => {
    const { gw } = await setup(t, { opaqueRoute: true });
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', generalConsent('MRN-O1'))).status, 201);
    const o = await accepted(t, gw, adt('MRN-O1', ['ZPV|1|room note']));
    t.equal(o.get(V2)?.decision, 'denied');
    t.match(o.get(V2)!.reasons.join(' '), /could not classify/);
  });
  await t.test('opaque route and a policy that permits opaque data there: queued', async (t) => {
    const { gw } = await setup(t, { opaqueRoute: true, permitOpaque: true });
    t.equal((await postJson(gw.lanPort, '/fhir/Consent', generalConsent('MRN-O2'))).status, 201);
    const o = await accepted(t, gw, adt('MRN-O2', ['ZPV|1|room note']));
    t.equal(o.get(V2)?.decision, 'queued', o.get(V2)?.reasons.join('; ') ?? '');
  });
});
