/**
 * Promise 1 as one suite for every ingress: the real gateway runs as a child process under
 * concurrent senders (FHIR over HTTP or HL7 v2 over MLLP) and is SIGKILLed at random
 * moments, again and again; every message it acknowledged (202, or AA/CA) must reach the
 * simulator, each message id once.
 */
import type { Test } from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, prepareDir, simReceived, startGatewayProcess, startSimulatorProcess, waitFor, type Ports, type Running } from './processes.js';
import { RawClient } from '../fixtures/hl7v2/mllp-client.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';
import { sleep } from './net.js';

export interface NothingLostOptions {
  protocol: 'http' | 'mllp';
  /** How many times the gateway is SIGKILLed under load. */
  kills: number;
  /** Concurrent senders per round. */
  senders: number;
}

export interface NothingLostFigures {
  acknowledged: number;
  delivered: number;
  lost: number;
  duplicates: number;
  refused: number;
}

/** A consent by CNIC identifier that permits the ORU fixture's patient (what an HL7 feed knows). */
const cnicConsent = {
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { identifier: { system: 'urn:oid:2.16.586.1.1', value: '35202-1234567-1' } },
  dateTime: '2026-01-01T00:00:00+05:00',
  provision: {
    type: 'permit',
    period: { start: '2020-01-01T00:00:00+05:00', end: '2030-12-31T23:59:59+05:00' },
    actor: [{ role: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType', code: 'IRCP' }] }, reference: { reference: 'Organization/national-telemed' } }],
    purpose: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' }],
  },
};

const oru = readFileSync(join(REPO, 'test/fixtures/hl7v2/oru-r01-lab-a.hl7'), 'utf8').replace(/\r?\n/g, '\r').replace(/\r+$/, '');
const withControlId = (msg: string, id: string) => msg.replace(/^(MSH(?:\|[^|]*){8}\|)[^|]*/, `$1${id}`);
const msa = (ack: string) => ack.split('\r').find((s) => s.startsWith('MSA|'))?.split('|') ?? [];

/** One sender's loop: returns when the connection dies with the gateway or `running()` turns false. */
type Sender = (ports: Ports, tag: string, running: () => boolean, acked: (id: string) => void, refused: () => void) => Promise<void>;

const httpSender: Sender = async (ports, tag, running, acked, refused) => {
  for (let i = 0; running(); i++) {
    try {
      const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Observation`, {
        method: 'POST',
        headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' },
        body: JSON.stringify(observation('p-kill', Number(tag) * 1000 + i)),
      });
      if (r.status === 202) acked(((await r.json()) as { id: string }).id);
      else refused();
    } catch {
      // The connection died with the gateway: not acknowledged, so not promised.
      return;
    }
  }
};

const mllpSender: Sender = async (ports, tag, running, acked, refused) => {
  let c: RawClient;
  try {
    c = await RawClient.connect(ports.mllp);
  } catch {
    return;
  }
  try {
    for (let i = 0; running(); i++) {
      // A unique MSH-10 per message, so no send is a retransmit of an earlier one.
      c.send(withControlId(oru, `NL-${tag}-${i}`));
      const acks = await c.waitFor(i + 1, 10_000);
      if (acks.length <= i) return; // closed with the gateway (or no answer): not acknowledged
      const fields = msa(acks[i]);
      const id = /Message accepted as ([^\r|^~\\&]+)/.exec(acks[i])?.[1];
      if ((fields[1] === 'AA' || fields[1] === 'CA') && id) acked(id);
      else refused();
    }
  } finally {
    c.end();
  }
};

async function sendConsent(ports: Ports, protocol: 'http' | 'mllp') {
  const body = protocol === 'http' ? consentFor('p-kill') : cnicConsent;
  if (protocol === 'http') {
    // Registered first, so the age is known (an unknown age is read as a minor's); the ORU fixture carries PID-7.
    const p = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Patient`, { method: 'POST', headers: { 'content-type': 'application/fhir+json' }, body: JSON.stringify(patientFor('p-kill')) });
    if (p.status !== 202) throw new Error(`patient refused: ${p.status}`);
  }
  const r = await fetch(`http://127.0.0.1:${ports.lan}/fhir/Consent`, { method: 'POST', headers: { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' }, body: JSON.stringify(body) });
  if (r.status !== 201) throw new Error(`consent refused: ${r.status}`);
}

export async function nothingLostSuite(t: Test, opts: NothingLostOptions): Promise<NothingLostFigures> {
  const dir = t.testdir();
  const { ports } = await prepareDir(dir, (c) => {
    c.destinations[0].retry = { maxAttempts: 1000, baseDelayMs: 20, maxDelayMs: 200, maxAgeMs: 3600000 };
  });
  const sim = await startSimulatorProcess(dir, ports.sim, { extraArgs: ['--certs', join(dir, 'certs')] });
  t.teardown(() => sim.kill());
  const send = opts.protocol === 'http' ? httpSender : mllpSender;

  const acked = new Set<string>();
  let refused = 0;
  let gw: Running | undefined;
  for (let round = 0; round < opts.kills; round++) {
    gw = await startGatewayProcess(dir);
    if (round === 0) await sendConsent(ports, opts.protocol);
    let running = true;
    const senders = Array.from({ length: opts.senders }, (_, s) =>
      send(ports, String(round * 100 + s), () => running, (id) => acked.add(id), () => refused++),
    );
    await sleep(150 + Math.floor(Math.random() * 600));
    await gw.kill('SIGKILL');
    running = false;
    await Promise.all(senders);
  }
  t.ok(acked.size >= opts.kills * 2, `load was real: ${acked.size} messages acknowledged`);
  t.equal(refused, 0, 'no message was refused');

  gw = await startGatewayProcess(dir);
  t.teardown(() => gw!.kill());
  let last = await simReceived(ports.sim);
  try {
    await waitFor(
      async () => {
        last = await simReceived(ports.sim);
        return [...acked].every((id) => last.ids.includes(id)) ? last : undefined;
      },
      { timeoutMs: 60_000, what: 'every acknowledged message delivered' },
    );
  } catch {
    // Reported below as lost ids.
  }
  const seen = new Set(last.ids);
  const missing = [...acked].filter((id) => !seen.has(id));
  const figures: NothingLostFigures = {
    acknowledged: acked.size,
    delivered: [...acked].filter((id) => seen.has(id)).length,
    lost: missing.length,
    duplicates: last.ids.length - seen.size,
    refused,
  };
  t.equal(figures.duplicates, 0, 'each id recorded once');
  t.same(missing, [], 'nothing acknowledged was lost');
  t.comment(`${opts.protocol}: ${JSON.stringify(figures)} over ${opts.kills} SIGKILLs, ${opts.senders} senders`);
  return figures;
}
