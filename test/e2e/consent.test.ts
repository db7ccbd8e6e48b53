/**
 * Issue 5's acceptance through the real gateway (child processes, real HTTP on loopback):
 * a withdrawal reaches messages already queued while the uplink is down; bad Consents
 * get a 422 OperationOutcome naming the element; minors need a guardian as performer;
 * a Consent that arrives after data was denied does not resend that data.
 */
import t from 'tap';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitDelivered, waitFor } from '../helpers/processes.js';
import { sleep } from '../helpers/net.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const FHIR = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
const FAST_RETRY = { maxAttempts: 1000, baseDelayMs: 50, maxDelayMs: 200, maxAgeMs: 600000 };

async function send(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
  const r = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { ...FHIR, ...headers },
    ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
  });
  const text = await r.text();
  return { status: r.status, text, body: (text ? JSON.parse(text) : undefined) as any };
}

/** waitDelivered, but a timeout reports the item's state instead of only the id. */
async function delivered(port: number, id: string, timeoutMs = 20_000) {
  try {
    return await waitDelivered(port, id, timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${JSON.stringify((await message(port, id)).destinations)}`);
  }
}

const message = async (port: number, id: string) => (await send(port, 'GET', `/messages/${id}`)).body;
const telemed = (answer: any) => answer.destinations.find((d: { name: string }) => d.name === 'national-telemed');

/** A collection Bundle: a Patient (with birthDate) and one Observation about them. */
function patientBundle(patientId: string, birthDate: string, i = 0) {
  return {
    resourceType: 'Bundle',
    type: 'collection',
    entry: [
      { fullUrl: `http://hospital.example/fhir/Patient/${patientId}`, resource: { resourceType: 'Patient', id: patientId, birthDate, gender: 'female' } },
      { resource: observation(patientId, i) },
    ],
  };
}

t.test('a withdrawal reaches the queue: with the uplink down, P withdraws; when it returns, nothing of P is delivered and everything of Q (and of T, who withdrew another consent) is', async (t) => {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = FAST_RETRY;
  });
  const gw = await startGatewayProcess(dir); // --no-simulator, and no simulator process: the uplink is down
  t.teardown(() => gw.kill());
  const lan = ports.lan;

  // Each patient is registered first (denied: no consent yet), so the gateway knows their age;
  // an unknown age is read as a minor's, and these consents are not a guardian's.
  for (const p of ['cons-p', 'cons-q', 'cons-r', 'cons-e', 'cons-n', 'cons-t']) {
    t.equal((await send(lan, 'POST', '/fhir/Patient', patientFor(p))).status, 202, `${p} registered`);
  }
  const consentIds: Record<string, string> = {};
  for (const p of ['cons-p', 'cons-q', 'cons-r']) {
    const r = await send(lan, 'POST', '/fhir/Consent', consentFor(p));
    t.equal(r.status, 201, `${p} consents`);
    consentIds[p] = r.body.id;
  }
  // E's consent ends in a few seconds: it permits at arrival and has expired by send time.
  const expiring: any = consentFor('cons-e');
  expiring.provision.period.end = new Date(Date.now() + 4000).toISOString();
  t.equal((await send(lan, 'POST', '/fhir/Consent', expiring)).status, 201, 'E consents, briefly');

  // N's consent stays active but a new version turns it into a refusal: only the send-time re-check can see that.
  const nResp = await send(lan, 'POST', '/fhir/Consent', consentFor('cons-n'));
  t.equal(nResp.status, 201, 'N consents');

  // T has two consents: treatment (national-telemed) and research (a university). Withdrawing
  // the research one must not touch T's treatment data, which the other consent still permits.
  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('cons-t'))).status, 201, 'T consents to treatment');
  const research: any = consentFor('cons-t');
  research.scope = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'research' }] };
  research.provision.purpose = [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'HRESCH' }];
  research.provision.actor[0].reference.reference = 'Organization/some-university';
  const tResearch = await send(lan, 'POST', '/fhir/Consent', research);
  t.equal(tResearch.status, 201, 'and to research');

  const ids: Record<string, string[]> = { 'cons-p': [], 'cons-q': [], 'cons-r': [], 'cons-e': [], 'cons-n': [], 'cons-t': [] };
  for (let i = 0; i < 3; i++) {
    for (const p of Object.keys(ids)) {
      const r = await send(lan, 'POST', '/fhir/Observation', observation(p, i));
      t.equal(telemed(r.body)?.decision, 'queued', `${p} #${i} queued`);
      ids[p].push(r.body.id);
    }
  }
  await waitFor(async () => (await message(lan, ids['cons-q'][0])).destinations[0].attempts >= 1, { what: 'a failed first attempt while the uplink is down' });
  for (const id of Object.values(ids).flat()) t.not((await message(lan, id)).destinations[0].state, 'delivered');

  // P withdraws by DELETE; R by a new version with status inactive.
  const del = await send(lan, 'DELETE', `/fhir/Consent/${consentIds['cons-p']}`);
  t.equal(del.status, 200, `DELETE answers 200 (${del.text.slice(0, 120)})`);
  const inactive: any = { ...consentFor('cons-r'), id: consentIds['cons-r'], status: 'inactive' };
  t.equal((await send(lan, 'PUT', `/fhir/Consent/${consentIds['cons-r']}`, inactive)).status, 200, 'R: PUT status inactive');
  for (const p of ['cons-p', 'cons-r']) {
    for (const id of ids[p]) {
      const m = await message(lan, id);
      t.equal(m.destinations[0].state, 'withdrawn', `${p}: GET /messages/${id.slice(0, 8)}… shows the withdrawal`);
      t.match(m.destinations[0].lastError ?? '', /withdrawn/, 'with the reason');
      t.notMatch(JSON.stringify(m), /cons-[pr]/, 'and no patient id');
    }
  }
  t.equal((await send(lan, 'DELETE', `/fhir/Consent/${tResearch.body.id}`)).status, 200, 'T withdraws the research consent only');
  for (const id of ids['cons-t']) t.not((await message(lan, id)).destinations[0].state, 'withdrawn', 'T\'s treatment data stays queued');
  const refusal: any = { ...consentFor('cons-n'), id: nResp.body.id };
  refusal.provision = { ...refusal.provision, type: 'deny' };
  t.equal((await send(lan, 'PUT', `/fhir/Consent/${nResp.body.id}`, refusal)).status, 200, 'N: a new, still active version that denies');
  const search = await send(lan, 'GET', '/fhir/Consent?patient=Patient/cons-p');
  t.same(search.body.entry.map((e: any) => e.resource.status), ['inactive'], 'the registry shows P\'s consent inactive');

  await waitFor(async () => Date.parse(expiring.provision.period.end) < Date.now() - 200, { what: 'E\'s consent to expire', timeoutMs: 10_000 });
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());
  // The dispatcher's circuit breaker waits 30 s before it probes a service that was down.
  for (const id of [...ids['cons-q'], ...ids['cons-t']]) await delivered(lan, id, 45_000);
  for (const p of ['cons-e', 'cons-n']) {
    for (const id of ids[p]) {
      const m = await waitFor(async () => {
        const s = await message(lan, id);
        return s.destinations[0].state === 'withdrawn' ? s : undefined;
      }, { what: `${p}'s messages withdrawn at send time`, timeoutMs: 15_000 });
      t.match(m.destinations[0].lastError ?? '', /consent/, `${p}: re-checked at send time (${m.destinations[0].lastError})`);
    }
  }
  await sleep(500);
  const got = await simReceived(ports.sim);
  t.same(new Set(got.ids), new Set([...ids['cons-q'], ...ids['cons-t']]), 'the simulator received everything of Q and T and nothing of P, R, E or N (and no Consent)');
  t.equal(got.count, 6);

  // The content of every withdrawn message is destroyed, and each withdrawal is audited.
  const gone = [...ids['cons-p'], ...ids['cons-r'], ...ids['cons-e'], ...ids['cons-n']];
  const db = new Database(join(dir, 'data', 'darwaza.db'), { readonly: true, fileMustExist: true });
  const q = `SELECT message_id, state, payload IS NULL AS destroyed FROM queue_items WHERE message_id IN (${gone.map(() => '?').join(',')})`;
  const rows = db.prepare(q).all(...gone) as { message_id: string; state: string; destroyed: number }[];
  const audited = new Set(
    (db.prepare("SELECT message_id FROM audit_entries WHERE event = 'consent-withdrawn'").all() as { message_id: string }[]).map((r) => r.message_id),
  );
  db.close();
  t.equal(rows.length, gone.length);
  t.ok(rows.every((r) => r.destroyed === 1), 'no withdrawn payload is left in the queue');
  t.same(gone.filter((id) => !audited.has(id)), [], 'every withdrawal is in the audit log');
  const stats = (await (await fetch(`http://127.0.0.1:${ports.sim}/_sim/stats`)).json()) as { rejected: number };
  t.equal(stats.rejected, 0, 'every delivery opened (signed and sealed correctly)');
});

// One gateway and simulator for the rest.
const dir = t.testdir();
const { ports } = await prepareDir(dir, (c) => {
  c.destinations[0].retry = FAST_RETRY;
});
const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
const gw = await startGatewayProcess(dir);
t.teardown(async () => {
  await gw.kill();
  await sim.kill();
});
const lan = ports.lan;

t.test('bad Consent resources are answered 422 with an OperationOutcome naming the element', async (t) => {
  const base = () => JSON.parse(JSON.stringify(consentFor('cons-bad-1')));
  const cases: { what: string; make: () => any; element: RegExp; value?: string }[] = [
    {
      what: 'a missing patient',
      make: () => {
        const c = base();
        delete c.patient;
        return c;
      },
      element: /^Consent\.patient$/,
    },
    {
      what: 'a patient reference to something that is not a patient',
      make: () => ({ ...base(), patient: { display: 'someone' } }),
      element: /^Consent\.patient/,
    },
    {
      what: 'an impossible date (30 February)',
      make: () => {
        const c = base();
        c.provision.period.start = '2026-02-30';
        return c;
      },
      element: /^Consent\.provision\.period\.start$/,
      value: '2026-02-30',
    },
    {
      what: 'a dateTime without a time zone',
      make: () => ({ ...base(), dateTime: '2026-01-01T10:00:00' }),
      element: /^Consent\.dateTime$/,
    },
    {
      what: 'a period that ends before it starts',
      make: () => {
        const c = base();
        c.provision.period = { start: '2027-01-01', end: '2026-01-01' };
        return c;
      },
      element: /^Consent\.provision\.period/,
    },
    {
      what: 'an unknown provision field',
      make: () => {
        const c = base();
        c.provision.colour = 'blue';
        return c;
      },
      element: /^Consent\.provision\.colour$/,
      value: 'blue',
    },
    {
      what: 'an unknown field in a nested provision (R5 decision)',
      make: () => {
        const c = base();
        c.provision.provision = [{ type: 'deny', decision: 'deny' }];
        return c;
      },
      element: /^Consent\.provision\.provision\[0\]\.decision$/,
    },
    {
      what: 'an unknown status',
      make: () => ({ ...base(), status: 'approved-ish' }),
      element: /^Consent\.status$/,
      value: 'approved-ish',
    },
  ];
  for (const c of cases) {
    const r = await send(lan, 'POST', '/fhir/Consent', c.make());
    t.equal(r.status, 422, `${c.what}: 422`);
    t.equal(r.body?.resourceType, 'OperationOutcome', `${c.what}: an OperationOutcome`);
    const issue = r.body?.issue?.[0] ?? {};
    const expressions: string[] = issue.expression ?? [];
    t.ok(expressions.some((e) => c.element.test(e)), `${c.what}: names the element (${expressions.join(', ')}): ${issue.details?.text ?? issue.diagnostics}`);
    if (c.value) t.notOk(r.text.includes(c.value), `${c.what}: the message does not repeat the value`);
    t.notMatch(r.text, /\n\s+at \S+/, `${c.what}: no stack trace`);
  }
  const put = await send(lan, 'PUT', '/fhir/Consent/cons-bad-put', { ...base(), id: 'cons-bad-put', status: 'approved-ish' });
  t.equal(put.status, 422, 'PUT validates the same way');
  t.ok(put.body.issue[0].expression.includes('Consent.status'));
  const search = await send(lan, 'GET', '/fhir/Consent?patient=Patient/cons-bad-1');
  t.equal(search.body.entry?.length ?? 0, 0, 'nothing was registered for the patient');
});

t.test('a minor\'s consent counts only with a RelatedPerson performer (age from the Patient in the Bundle)', async (t) => {
  const childBirth = `${new Date().getUTCFullYear() - 10}-05-01`;
  // Without a guardian.
  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('cons-minor-1'))).status, 201);
  const denied = await send(lan, 'POST', '/fhir', patientBundle('cons-minor-1', childBirth, 1));
  t.equal(denied.status, 202, denied.text);
  const d = telemed(denied.body);
  t.equal(d.decision, 'denied', `a 10-year-old's consent without a guardian does not release data: ${d.reasons.join(' | ')}`);
  t.match(d.reasons.join(' '), /minor|guardian|RelatedPerson|under 18/i, 'and says why');
  t.notMatch(d.reasons.join(' '), /cons-minor-1|05-01/, 'without the patient id or birth date');

  // The same consent for an adult: permitted (it is the age that matters).
  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('cons-adult-1'))).status, 201);
  const adult = await send(lan, 'POST', '/fhir', patientBundle('cons-adult-1', '1990-05-01', 1));
  t.equal(telemed(adult.body).decision, 'queued', 'the same consent for an adult releases it');

  // With a guardian as performer.
  const guarded: any = consentFor('cons-minor-2');
  guarded.performer = [{ reference: 'RelatedPerson/guardian-of-minor-2' }];
  t.equal((await send(lan, 'POST', '/fhir/Consent', guarded)).status, 201);
  const permitted = await send(lan, 'POST', '/fhir', patientBundle('cons-minor-2', childBirth, 1));
  t.equal(telemed(permitted.body).decision, 'queued', `a guardian's consent releases a minor's data: ${telemed(permitted.body).reasons.join(' | ')}`);
  await delivered(lan, permitted.body.id);
  await delivered(lan, adult.body.id);
  const got = await simReceived(ports.sim);
  t.ok(got.ids.includes(permitted.body.id), 'delivered');
  t.notOk(got.ids.includes(denied.body.id), 'the denied one never left');
});

t.test('a Consent that arrives after data was denied does not resend that data; posting it again does', async (t) => {
  t.equal((await send(lan, 'POST', '/fhir/Patient', patientFor('cons-late-1'))).status, 202, 'the patient is registered (its age known)');
  const first = await send(lan, 'POST', '/fhir/Observation', observation('cons-late-1', 1), { 'idempotency-key': 'cons-late-1-a' });
  t.equal(first.status, 202);
  t.equal(telemed(first.body).decision, 'denied', `no consent yet: denied (opt-in): ${telemed(first.body).reasons.join(' | ')}`);
  t.same((await message(lan, first.body.id)).destinations, [], 'nothing was queued');

  t.equal((await send(lan, 'POST', '/fhir/Consent', consentFor('cons-late-1'))).status, 201, 'the consent arrives');
  await sleep(1500); // the dispatcher runs every few ms with this retry config: time enough to (wrongly) send
  let got = await simReceived(ports.sim);
  t.notOk(got.ids.includes(first.body.id), 'the denied message is not sent after the consent arrives');
  t.same((await message(lan, first.body.id)).destinations, [], 'and is still not queued');

  // A retry with the same Idempotency-Key is the same request: it gets the first answer back.
  const retried = await send(lan, 'POST', '/fhir/Observation', observation('cons-late-1', 1), { 'idempotency-key': 'cons-late-1-a' });
  t.equal(retried.body.id, first.body.id, 'a retry with the same key replays the first (denied) answer');

  const again = await send(lan, 'POST', '/fhir/Observation', observation('cons-late-1', 1), { 'idempotency-key': 'cons-late-1-b' });
  t.equal(telemed(again.body).decision, 'queued', 'posted again, the data is permitted now');
  await delivered(lan, again.body.id);
  got = await simReceived(ports.sim);
  t.ok(got.ids.includes(again.body.id), 'and delivered');
  t.notOk(got.ids.includes(first.body.id), 'the first post never left');
});
