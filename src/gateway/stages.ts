/**
 * The pipeline's stages, plugged together from the folders that make each decision:
 * classify → policy → consent → sanitize → seal. Each stage calls into its folder;
 * what is decided is decided there. Destination facts a decision rests on (country, region,
 * kind, whose key the data is sealed to) are read from the policy pack in force.
 */
import type { GatewayConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { describeError } from '../log/index.js';
import type { Destination } from '../model/index.js';
import type { Stages } from '../pipeline/index.js';
import { classifyMessage, classifyEntries, applyLabels, ageInYears } from '../classify/index.js';
import { decide, withPackFacts, recipientKeyFingerprint, EMBEDDED_SIMULATOR_KEY, type CompiledPolicy } from '../policy/index.js';
import {
  tokensForIds,
  tokensByKind,
  resolvePatientTokens,
  dataPeriodOf,
  evaluateConsent,
  loadPatientView,
  applyPatientWrites,
  type ConsentRegistry,
  type ConsentStore,
  type PatientFacts,
  type PatientMemory,
} from '../consent/index.js';
import { deidentifiedForm } from '../sanitize/index.js';
import { sealAndSerialize, resolveRecipient, type KeyStore } from '../crypto/index.js';
import { compressPayload } from '../receiver/index.js';
import { sanitizeV2 } from '../hl7v2/index.js';
import { OperationOutcomeError, unprocessable } from '../fhir/index.js';
import type { DestinationProfiles } from './profiles.js';

export interface StageDeps {
  config: GatewayConfig;
  /** The policy in force now (hot reload swaps it). */
  policy: () => CompiledPolicy;
  profiles: DestinationProfiles;
  /** The synchronous registry (SQLite); absent when the patient state is read per message (`patientState`). */
  consents?: Pick<ConsentRegistry, 'evaluate'>;
  /** Birth dates and weak-id bindings seen before (src/consent memory.ts); none: nothing remembered. */
  memory?: Pick<PatientMemory, 'birthDate' | 'rememberBirthDate' | 'boundTo' | 'bind'>;
  /**
   * The async ports (PostgreSQL): each message's patient state is read into a view before its
   * decision, and what it learned written before its acknowledgement.
   */
  patientState?: { consents: Pick<ConsentStore, 'forTokens'>; facts: PatientFacts };
  keys: KeyStore;
  tokenize: (s: string) => string;
  logger: Logger;
}

/** Security labels as one metadata string: "system|code" pairs, space-separated, sorted (no PHI: codes only). */
export function labelsMeta(labels: readonly { system?: string; code?: string }[]): string {
  return [...new Set(labels.filter((l) => l.code).map((l) => `${l.system ?? ''}|${l.code}`))].sort().join(' ');
}

const toBytes = (p: Uint8Array | string): Uint8Array => (typeof p === 'string' ? new Uint8Array(Buffer.from(p, 'utf8')) : p);

export function buildStages(deps: StageDeps): Stages {
  const { config, keys, tokenize, logger } = deps;

  /**
   * The destination's recipient key, as the pack in force names it: the configured key whose
   * fingerprint the pack lists, or (pack says "embedded-simulator") the demo key made on this
   * appliance. Resolved once per destination and pack key (it reads key files); anything else
   * fails closed at seal time.
   */
  const recipients = new Map<string, ReturnType<typeof resolveRecipient> | undefined>();
  const recipientOf = (d: Destination) => {
    const packKey = deps.policy().destinations.find((p) => p.name === d.name)?.recipientKey;
    const cacheKey = `${d.name}\u0000${packKey ?? ''}`;
    if (!recipients.has(cacheKey)) {
      let r: ReturnType<typeof resolveRecipient> | undefined;
      try {
        if (packKey === EMBEDDED_SIMULATOR_KEY) r = resolveRecipient({ name: d.name }, keys);
        else if (packKey && d.recipientPublicKey && recipientKeyFingerprint(d.recipientPublicKey) === packKey) r = resolveRecipient(d);
        else logger.error({ destination: d.name }, 'the policy pack names no recipient key this destination has: sealed data for it is refused');
      } catch (err) {
        logger.error({ err: describeError(err), destination: d.name }, 'no usable recipient key: sealed data for this destination is refused');
      }
      recipients.set(cacheKey, r);
    }
    return recipients.get(cacheKey);
  };

  // The identity key leads (ids[0]); weak ids are namespaced by the sender and checked against the
  // strong identity they were first seen with.
  const tokenParts = (ids: string[], source: string) => {
    const first = ids.length ? tokensForIds([ids[0]!], tokenize, source)[0] : undefined;
    return { ...(first ? { first } : {}), ...tokensByKind(ids, tokenize, source) };
  };

  return {
    classify: (resource, now, v2) => classifyMessage({ resource, ...(typeof v2 === 'string' ? { v2 } : {}) }, { now }),
    classifyEntries: (bundle, now) => classifyEntries(bundle, { now }).map((e) => e.classification),
    applyLabels,
    decide: (input) => {
      const policy = deps.policy();
      // The facts from the pack in force, whatever the destination object carries; the profiles' hash for the audit entry.
      const d = decide(policy, { ...input, destination: withPackFacts(input.destination, policy) });
      return policy.pack ? { ...d, profilesSha256: policy.pack.profilesSha256 } : d;
    },
    checkConsent: (input) => {
      if (input.consents) return evaluateConsent(input.consents.map((c) => c.compiled), input.request);
      // No view and no synchronous registry: nothing shows the patient consented.
      if (!deps.consents) throw new Error('consent asked without the patient\'s state');
      return deps.consents.evaluate(input.patientTokens, input.request);
    },
    sanitize: (profile, destination, resource) => {
      const p = deps.profiles.get(profile, destination.name);
      // Start and reload refuse a policy naming a profile its pack lacks; this guards anything else.
      if (!p) throw new OperationOutcomeError(unprocessable(`the policy names de-identification profile "${profile}", which the policy pack in force does not provide`));
      const r = p.apply(resource);
      // A profile that hit a processing error and emptied the content ('skip') must not send the husk.
      if (r.skipped) throw new OperationOutcomeError(unprocessable(`de-identification with ${profile} could not process this content`));
      return deidentifiedForm(r, { deidentifies: deps.policy().sanitizeProfiles[profile]?.deidentifies === true });
    },
    // Z-segments are kept: v2 holding them is opaque, and reaches here only through an opaque route
    // to a destination the policy permits opaque data for, which asked for them as they are.
    sanitizeV2: (text, destination) => sanitizeV2(text, { keepZSegments: true, pseudonymize: (id: string) => tokenize(`${destination.name}|${id}`).slice(0, 16) }),
    seal: (input) => {
      const recipient = recipientOf(input.destination);
      const mustSeal = input.sealRequired;
      if (mustSeal && !recipient) {
        throw new OperationOutcomeError(unprocessable(`destination ${input.destination.name} has no recipient key, and sealing is required`));
      }
      const { body } = sealAndSerialize({
        meta: {
          id: input.messageId,
          source: config.organization,
          destination: input.destination.name,
          purpose: input.purpose,
          policySha256: input.policySha256,
          created: input.createdAt,
          contentType: input.payloadType,
          // The labels travel outside the payload too, so a v2 receiver (no meta.security) sees them.
          ...(input.labels?.length ? { securityLabels: labelsMeta(input.labels) } : {}),
          // Compressed before sealing (ciphertext does not compress), one context per message.
          ...(input.destination.compress ? { contentEncoding: input.destination.compress } : {}),
        },
        payload: input.destination.compress ? compressPayload(toBytes(input.payload), input.destination.compress) : input.payload,
        recipient,
        signer: keys.signer(),
        seal: mustSeal,
      });
      return { body: Buffer.from(body, 'utf8'), contentType: 'application/vnd.darwaza.envelope+json' };
    },
    tokenize,
    patientTokens: (ids, source) => resolvePatientTokens(tokenParts(ids, source), deps.memory),
    ...(deps.patientState
      ? {
          patientView: (ids: string[], source: string) => loadPatientView(deps.patientState!.consents, deps.patientState!.facts, tokenParts(ids, source)),
          applyPatientWrites: (writes: Parameters<typeof applyPatientWrites>[1]) => applyPatientWrites(deps.patientState!.facts, writes),
        }
      : {}),
    recallAge: (tokens, birthDate, now, view) => {
      if (view) {
        if (birthDate && tokens.length) view.writes.push({ kind: 'birthDate', tokens, birthDate });
        return ageInYears(birthDate ?? view.birthDate, now);
      }
      if (!tokens.length || !deps.memory) return ageInYears(birthDate, now);
      if (birthDate) {
        deps.memory.rememberBirthDate(tokens, birthDate);
        return ageInYears(birthDate, now);
      }
      return ageInYears(deps.memory.birthDate(tokens), now);
    },
    dataPeriod: (resource) => dataPeriodOf(resource, config.timezone),
  };
}
