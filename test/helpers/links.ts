/**
 * Shared fixtures for the link tests: a gateway signing key and a recipient key, envelopes
 * sealed like the pipeline seals them (optionally compressed first), and a 2 KB Observation.
 */
import { randomBytes } from 'node:crypto';
import {
  getSodium,
  signerFromSeed,
  recipientFromSecret,
  sealAndSerialize,
  type EnvelopeSigner,
  type RecipientKeyPair,
} from '../../src/crypto/index.js';
import { compressPayload, envelopeOpener, type EnvelopeOpener, type PayloadEncoding } from '../../src/receiver/index.js';

export interface LinkKeys {
  signer: EnvelopeSigner;
  recipient: RecipientKeyPair;
  opener: EnvelopeOpener;
  seal(id: string, payload: string | Uint8Array, opts?: { compress?: PayloadEncoding; purpose?: string }): Buffer;
}

export async function linkKeys(): Promise<LinkKeys> {
  await getSodium();
  const signer = signerFromSeed(new Uint8Array(randomBytes(32)));
  const recipient = recipientFromSecret(new Uint8Array(randomBytes(32)));
  const opener = await envelopeOpener({ recipientKeys: [recipient], trustedGatewayKeys: [signer] });
  return {
    signer,
    recipient,
    opener,
    seal(id, payload, opts = {}) {
      const bytes = typeof payload === 'string' ? new Uint8Array(Buffer.from(payload)) : payload;
      const { body } = sealAndSerialize({
        meta: {
          id,
          source: 'hospital-a',
          destination: 'national-telemed',
          purpose: opts.purpose ?? 'TREAT',
          policySha256: 'a'.repeat(64),
          created: new Date().toISOString(),
          contentType: 'application/fhir+json',
          ...(opts.compress ? { contentEncoding: opts.compress } : {}),
        },
        payload: opts.compress ? compressPayload(bytes, opts.compress) : bytes,
        recipient,
        signer,
        seal: true,
      });
      return Buffer.from(body, 'utf8');
    },
  };
}

/** A synthetic ~2 KB FHIR Observation (no real person). */
export function observation(i: number): string {
  const components = Array.from({ length: 8 }, (_, k) => ({
    code: { coding: [{ system: 'http://loinc.org', code: `${8480 + k}-6`, display: `Component measurement number ${k}` }] },
    valueQuantity: { value: 100 + ((i * 7 + k * 13) % 60), unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' },
  }));
  return JSON.stringify({
    resourceType: 'Observation',
    id: `obs-${i}`,
    status: 'final',
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'vital-signs' }] }],
    code: { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure panel with all children optional' }] },
    subject: { reference: `Patient/p${i % 97}` },
    effectiveDateTime: new Date(Date.UTC(2026, 10, 26, 0, 0, i % 3600)).toISOString(),
    component: components,
  });
}
