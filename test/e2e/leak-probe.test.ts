/**
 * The leak probe: a hand-made Pakistani patient (Urdu and English names, her CNIC in three
 * formats, +92 / 03xx mobile and Lahore landline numbers, MRN, passport, e-mail, address,
 * narrative, clinical notes, an attachment with a title and a base64 referral letter, a
 * husband as RelatedPerson and a brother named in free text) goes through the real gateway
 * (a child process, real sockets) to a research destination abroad (DE). The payload that
 * arrives, opened with the recipient's key, contains none of her identifying values, in any
 * spelling: each string is checked as sent, and with spaces, dashes and brackets removed.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, prepareDir, startGatewayProcess, waitDelivered } from '../helpers/processes.js';
import { freePort } from '../helpers/net.js';
import { startCaptureServer } from '../helpers/capture.js';
import { startRecordingSimulator } from '../helpers/recording-sim.js';
import { post } from '../helpers/http.js';
import { createReceiver, loadOrCreateKeyStore } from '../../src/crypto/index.js';
import { packAgreesWithConfig } from '../helpers/pack.js';

const AYESHA = JSON.parse(readFileSync(join(REPO, 'test/fixtures/pk-patients/ayesha-leak-probe.json'), 'utf8'));

/** Every identifying value of the probe, written down by hand (not derived from the engine). */
const CANARIES = [
  'Ayesha', 'Siddiqui', 'عائشہ', 'صدیقی', 'Kamran', 'Tariq', 'Mehmood', 'طارق', 'محمود',
  '35202-7654321-9', '3520276543219', '35202 7654321 9', '7654321', '35202-1112223-5', '3520211122235', '1112223',
  '3001234567', '1234567', '03007654321', '0321-4567890', '4567890', '03331234987', '1234987',
  '04235761234', '35761234', '3576 1234',
  'MH-2024-551203', '551203', 'AB1234567', 'ayesha.siddiqui@example.pk',
  'House 14', 'Street 7', 'Gulberg', '54660', '1987-03-14', '2019-06-02', '2024-10-01',
];
const squeeze = (s: string) => s.replace(/[\s\-()]/g, '');

/** Every string in the payload, with base64 attachments decoded too. */
function stringsOf(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string') {
    out.push(node);
    if (/^[A-Za-z0-9+/]{16,}={0,2}$/.test(node)) out.push(Buffer.from(node, 'base64').toString('utf8'));
  } else if (Array.isArray(node)) for (const x of node) stringsOf(x, out);
  else if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) {
    out.push(k);
    stringsOf(v, out);
  }
  return out;
}

const dir = t.testdir();
const abroadPort = await freePort();
const { ports } = await prepareDir(dir, (c) => {
  c.destinations.push({
    name: 'research-abroad',
    url: `http://127.0.0.1:${abroadPort}/ingest`,
    country: 'DE',
    kind: 'research',
    organization: 'research-abroad',
    format: 'fhir',
    consentModel: 'opt-in',
    timeoutMs: 5000,
    concurrency: 2,
    retry: { maxAttempts: 100, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 },
  });
  c.routes.push({ name: 'research', match: { purpose: ['HRESCH'] }, destinations: ['research-abroad'] });
});
packAgreesWithConfig(dir); // the test's own pack declares the destinations its config adds
const national = await startRecordingSimulator(join(dir, 'certs'), ports.sim);
const abroad = await startCaptureServer(abroadPort);
const gw = await startGatewayProcess(dir);
t.teardown(async () => {
  await gw.kill();
  await national.stop();
  await abroad.stop();
});

t.test('a Pakistani patient sent for research abroad arrives with none of her identifying values', async (t) => {
  const r = await post(ports.lan, '/fhir', AYESHA, { 'x-purpose-of-use': 'HRESCH' });
  t.equal(r.status, 202, r.text.slice(0, 300));
  const outcome = r.body.destinations.find((d: { name: string }) => d.name === 'research-abroad');
  t.equal(outcome?.decision, 'queued', `research abroad gets the de-identified form: ${outcome?.reasons}`);
  await waitDelivered(ports.lan, r.body.id);

  const captured = abroad.captured.find((c) => c.headers['idempotency-key'] === r.body.id);
  t.ok(captured, 'the research destination received the message');
  const keys = await loadOrCreateKeyStore(join(dir, 'certs'));
  const receiver = await createReceiver({ recipientKeys: [keys.demoRecipient('research-abroad')], trustedGatewayKeys: keys.trustedGatewayKeys() });
  const opened = receiver.open(captured!.body);
  t.ok(opened.ok && opened.sealed, 'the envelope opens with the recipient key and was sealed');
  if (!opened.ok) return;
  const text = Buffer.from(opened.payload).toString('utf8');
  const payload = JSON.parse(text);
  t.ok(JSON.stringify(payload).includes('4548-4'), 'the clinical content (HbA1c, LOINC 4548-4) is still there');

  const strings = stringsOf(payload);
  const squeezed = strings.map(squeeze);
  const found = CANARIES.filter((c) => strings.some((s) => s.includes(c)) || squeezed.some((s) => s.includes(squeeze(c))));
  t.same(found, [], 'no identifying value of the probe, in any spelling, is in the payload');
  // The raw bytes on the wire are sealed: not one canary in them either.
  const wire = captured!.body.toString('latin1');
  t.same(CANARIES.filter((c) => wire.includes(c)), [], 'and none on the wire');
});
