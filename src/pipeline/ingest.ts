// About 500 lines: ingest, batches and transactions are one sequence over shared closures;
// the decisions themselves live in their folders and in ./context, ./recheck, ./explain.
/**
 * One message through the gateway: route → classify → for each destination
 * (policy → consent → label/sanitize → seal) → one durable commit → the answer.
 * Decisions are made by the injected stages; this file only sequences them and
 * gathers their reasons. I/O: the store's group commit, nothing else.
 */
import { createHash, randomUUID } from 'node:crypto';
import type {
  AuditEvent,
  Classification,
  Coding,
  DestinationOutcome,
  FhirResource,
  Obligation,
  PolicyDecision,
  PurposeOfUse,
  SourceFormat,
} from '../model/index.js';
import type { DestinationConfig, GatewayConfig } from '../config/index.js';
import { DuplicateIdempotencyKeyError, OperationOutcomeError, batchEntryRefusal, statusOf, unprocessable, unprocessableAll, outcomeOf, type OperationOutcomeIssue } from '../fhir/index.js';
import { consentRequest, identityConflict, type PatientView, type StoredConsent } from '../consent/index.js';
import { auditEvents } from '../audit/index.js';
import type { IngestStore } from '../queue/index.js';
import { route } from './route.js';
import { v2FormOf, v2RouteRefusal } from './v2form.js';
import type { Stages } from './stages.js';
import { factsOf, itemContextOf } from './context.js';
import { noPatientForConsent } from './consent-gate.js';

/** What the pipeline needs from the queue store: the queue port's ingest side. */
export type MessageStore = IngestStore;

export interface IngestRequest {
  resource: FhirResource;
  /** The source routes match on: the authenticated identity, or what an integration engine claimed. */
  source: string;
  /** The authenticated identity that sent it (audited beside the source). */
  actor?: string;
  /** The source the message claims (X-Source-System, MSH-3|MSH-4), honoured or not: audited apart from the identity. */
  claimedSource?: string;
  purpose: PurposeOfUse;
  format: SourceFormat;
  /** Original HL7 v2 text. */
  v2?: string;
  messageType?: string;
  /** X-Destination: narrow to these (already checked to exist). */
  destinations?: string[];
  idempotencyKey?: string;
  /** What a retry with the same key gets back (default: the JSON answer). MLLP stores its ACK here. */
  responseFor?: (answer: IngestAnswer) => string;
  /** Opaque content the classifier cannot see into (unmapped HL7 v2): always treated as identifiable. */
  opaque?: boolean;
  /** Came over a channel without TLS: the received entry is marked plain. */
  plain?: boolean;
}

export interface IngestAnswer {
  id: string;
  destinations: DestinationOutcome[];
  /** Batch bundles: one answer per entry. */
  entries?: { index: number; id: string; destinations: DestinationOutcome[]; outcome: ReturnType<typeof outcomeOf>; status?: number }[];
}

export type IngestResult =
  | { kind: 'accepted'; answer: IngestAnswer; stored: string }
  /** A retry of an accepted request: `stored` is what the first answer stored (JSON answer or ACK text). */
  | { kind: 'duplicate'; stored: string };

export interface PipelineOptions {
  config: GatewayConfig;
  store: MessageStore;
  stages: Stages;
  clock?: () => Date;
  newId?: () => string;
  /** Called after a successful commit (e.g. to wake the dispatcher). */
  onQueued?: (destinations: string[]) => void;
  observer?: { decided?(destination: string, decision: 'queued' | 'denied'): void };
}

const dayScope = (iso: string) => `d:${iso.slice(0, 10)}`;
/** Audit data classes: categories and types; a v2 type "HL7v2:ADT^A01" is written "HL7v2:ADT_A01" (audit ids have no "^"). */
/** A claimed source (MSH-3|MSH-4, X-Source-System) as an audit name: characters outside the entry's set become "_". */
const auditName = (claimed: string) => claimed.replace(/[^A-Za-z0-9 ._:/@|+=#~-]/g, '_').slice(0, 128);
const dataClassesOf = (cls: Classification) => [...cls.categories, ...cls.resourceTypes.map((t) => t.replace(/\^/g, '_'))];

export function createPipeline(opts: PipelineOptions) {
  const { config, store, stages } = opts;
  const clock = opts.clock ?? (() => new Date());
  const newId = opts.newId ?? randomUUID;
  const byName = new Map<string, DestinationConfig>(config.destinations.map((d) => [d.name, d]));

  interface Prepared {
    outcome: DestinationOutcome;
    item?: Parameters<MessageStore['accept']>[0]['items'][number];
    audit: AuditEvent[];
  }

  /** The per-destination chain for one message. Never throws for a decision; fails closed. */
  function prepareFor(
    name: string,
    msg: { id: string; receivedAt: string; now: Date; source: string; actor?: string; claimedSource?: string; plain?: boolean; purpose: PurposeOfUse; resource: FhirResource; v2?: string; dataPeriod?: { start?: string; end?: string }; identityConflict?: string; consents?: readonly StoredConsent[] },
    cls: Classification,
    patientTokens: string[],
    decision: PolicyDecision,
  ): Prepared {
    const destination = byName.get(name);
    const base = {
      time: msg.receivedAt,
      messageId: msg.id,
      source: msg.source,
      ...(msg.actor ? { actor: msg.actor } : {}),
      ...(msg.claimedSource ? { claimedSource: auditName(msg.claimedSource) } : {}),
      ...(msg.plain ? { plain: true } : {}),
      destination: name,
      purpose: msg.purpose,
      policySha256: decision.policy.sha256,
      profilesSha256: decision.profilesSha256,
      ruleIds: decision.ruleIds,
      patientToken: patientTokens[0],
      dataClasses: dataClassesOf(cls),
    };
    const denied = (reasons: string[], consent?: DestinationOutcome['consent']): Prepared => ({
      outcome: { name, decision: 'denied', reasons, policy: decision.policy, ruleIds: decision.ruleIds, ...(consent ? { consent } : {}) },
      audit: [auditEvents.decided({ ...base, decision: 'deny', reason: reasons.join('; ').slice(0, 300), ...(consent ? { consentId: consent.id, consentVersion: consent.version } : {}) })],
    });
    if (!destination) return denied(['unknown destination']);
    if (decision.effect === 'deny') return denied(decision.reasons.map((r) => r.text));

    const obligations: Obligation[] = [...decision.obligations];
    let consentOut: DestinationOutcome['consent'];
    const needsConsent = obligations.some((o) => o.kind === 'require-consent');
    if (needsConsent && msg.identityConflict) return denied([msg.identityConflict]);
    if (needsConsent) {
      const unknownPatient = noPatientForConsent(cls, patientTokens);
      if (unknownPatient) return denied([unknownPatient], { effect: 'deny' });
      const request = consentRequest({
        classification: cls,
        destination,
        purpose: msg.purpose,
        ...(msg.dataPeriod ? { dataPeriod: msg.dataPeriod } : {}),
        now: msg.now,
        timezone: config.timezone,
      });
      const c = stages.checkConsent({ patientTokens, request, ...(msg.consents ? { consents: msg.consents } : {}) });
      consentOut = { id: c.consentId, version: c.consentVersion, effect: c.effect };
      if (c.effect === 'deny') return denied(c.reasons.map((r) => r.text), consentOut);
      obligations.push(...c.obligations);
    }

    let payload: Uint8Array;
    let payloadType: string;
    const sealRequired = obligations.some((o) => o.kind === 'seal' && o.required) || destination.seal !== false;
    const labels: Coding[] = [...cls.labels];
    for (const o of obligations) if (o.kind === 'label') labels.push(...o.labels);
    try {
      if (destination.format === 'hl7v2' && msg.v2) {
        // A sanitize profile is FHIR; the v2 form would leave with its free text and exact dates
        // untouched, so a destination that must get de-identified data gets no v2 at all.
        const s = obligations.find((o) => o.kind === 'sanitize');
        if (s) throw new OperationOutcomeError(unprocessable(`de-identification profile ${s.profile} applies to FHIR data, and this destination takes HL7 v2`));
        payload = Buffer.from(stages.sanitizeV2(msg.v2, destination), 'utf8');
        payloadType = 'x-application/hl7-v2+er7';
      } else {
        let resource = stages.applyLabels(msg.resource, labels);
        for (const o of obligations) if (o.kind === 'sanitize') resource = stages.sanitize(o.profile, destination, resource);
        payload = Buffer.from(JSON.stringify(resource), 'utf8');
        payloadType = 'application/fhir+json';
      }
    } catch (err) {
      // Fail closed: data we could not transform as required does not leave.
      const why = err instanceof OperationOutcomeError ? err.message : 'de-identification failed';
      return denied([`could not prepare the data for this destination: ${why}`]);
    }
    const sealed = stages.seal({
      messageId: msg.id,
      destination,
      purpose: msg.purpose,
      policySha256: decision.policy.sha256,
      createdAt: msg.receivedAt,
      payload,
      payloadType,
      sealRequired,
      labels,
    });
    const context = itemContextOf({
      purpose: msg.purpose,
      source: msg.source,
      classification: cls,
      consentRequired: needsConsent,
      policySha256: decision.policy.sha256,
      ...(msg.dataPeriod ? { dataPeriod: msg.dataPeriod } : {}),
    });
    const reasons = decision.reasons.map((r) => r.text);
    if (consentOut) reasons.push(`consent ${consentOut.id ?? '(default)'} permits`);
    return {
      outcome: { name, decision: 'queued', reasons, policy: decision.policy, ruleIds: decision.ruleIds, ...(consentOut ? { consent: consentOut } : {}) },
      item: {
        messageId: msg.id,
        destination: name,
        lane: msg.purpose === 'ETREAT' ? 'emergency' : 'normal',
        payload: sealed.body,
        contentType: sealed.contentType,
        cipherScope: dayScope(msg.receivedAt),
        patientTokens,
        context: JSON.stringify(context),
      },
      // One leaf per destination decision: a permit is written in the transaction that
      // queues the sealed copy, so it records the receipt, the decision and the queueing.
      audit: [auditEvents.decided({ ...base, decision: 'permit', ...(consentOut ? { consentId: consentOut.id, consentVersion: consentOut.version } : {}) })],
    };
  }

  interface Decided {
    id: string;
    receivedAt: string;
    prepared: Prepared[];
    patientTokens: string[];
    cls: Classification;
  }

  /** A transaction refused for every destination: what to audit, and the answer. */
  class TransactionRejected extends OperationOutcomeError {
    constructor(
      readonly decided: Decided,
      outcome: ConstructorParameters<typeof OperationOutcomeError>[0],
    ) {
      super(outcome);
    }
  }

  function rejectedFor(name: string, msg: { id: string; receivedAt: string; source: string; actor?: string; claimedSource?: string; plain?: boolean; purpose: PurposeOfUse }, cls: Classification, patientTokens: string[], denial: TransactionDenial | undefined): Prepared {
    const issues = denial?.issues ?? [];
    const reasons = [`a transaction is all or nothing: ${issues.map((i) => i.details?.text).join('; ')}`];
    return {
      outcome: { name, decision: 'denied', reasons },
      audit: [
        auditEvents.decided({
          time: msg.receivedAt,
          messageId: msg.id,
          source: msg.source,
          ...(msg.actor ? { actor: msg.actor } : {}),
          ...(msg.claimedSource ? { claimedSource: auditName(msg.claimedSource) } : {}),
          ...(msg.plain ? { plain: true } : {}),
          destination: name,
          purpose: msg.purpose,
          decision: 'deny',
          reason: `transaction rejected: ${reasons[0]}`.slice(0, 300),
          patientToken: patientTokens[0],
          dataClasses: dataClassesOf(cls),
          policySha256: denial?.policySha256 ?? '',
        }),
      ],
    };
  }

  /** What the decision needs before it can read the patient's state: the classification and the patient's own ids. */
  interface Classified {
    cls: Classification;
    ids: string[];
    own: string[];
  }

  function classifyFor(req: IngestRequest, resource: FhirResource, now: Date): Classified {
    // HL7 v2 input is classified from its own segments too (codes the FHIR mapping drops).
    const cls = stages.classify(resource, now, req.v2);
    if (req.opaque) {
      // We cannot see inside: assume the worst (identifiable, and no patient to ask consent of).
      cls.identifiable = true;
      cls.opaque = true;
    }
    // The identity key's token first: audit entries carry patientTokens[0], documented as the
    // keyed hash of PatientIdentity.key (CNIC, else MRN, ...), not of whichever id came first.
    const ids = cls.patient ? (cls.patient.ids.includes(cls.patient.key) ? [cls.patient.key, ...cls.patient.ids] : cls.patient.ids) : [];
    // Consents are matched by the patient's own identifiers (a Patient resource's), not by ids
    // found elsewhere (a note's CNIC, a second PID); all of them are checked for a conflict.
    const own = cls.patients?.[0] ? [...new Set([cls.patient!.key, ...cls.patients[0].ids])] : ids;
    return { cls, ids, own };
  }

  /**
   * Decides one message. With a store that must be read asynchronously (stages.patientView),
   * the patient's state is read first and the decision runs on that view; what it learned is
   * written before the acknowledgement. A weak-id binding it assumed that lost a race to another
   * message (here or on another node) means it rested on a false fact: it is decided again.
   */
  async function decideMessage(req: IngestRequest, resource: FhirResource, now: Date, candidates: string[]): Promise<Decided> {
    const classified = classifyFor(req, resource, now);
    const { cls, own } = classified;
    if (!cls.patient || !stages.patientView) return decideOn(req, resource, now, candidates, classified, undefined);
    for (let attempt = 1; ; attempt++) {
      const view = await stages.patientView(own, req.source);
      const d = decideOn(req, resource, now, candidates, classified, view);
      if (!stages.applyPatientWrites || (await stages.applyPatientWrites(view.writes))) return d;
      if (attempt >= 3) throw new Error('the patient\'s weak-id bindings kept changing while this message was decided');
    }
  }

  function decideOn(req: IngestRequest, resource: FhirResource, now: Date, candidates: string[], classified: Classified, view: PatientView | undefined): Decided {
    const id = newId();
    const receivedAt = now.toISOString();
    const { cls, own } = classified;
    const patientTokens = cls.patient ? [...new Set(view ? view.tokens : stages.patientTokens(own, req.source))] : [];
    const conflict = cls.patient ? identityConflict(cls.patient.ids) : undefined;
    const form = v2FormOf(req);
    const opaqueVia = new Set(form?.opaque ? route(config.routes, routeInput(req, resource)).opaqueDestinations : []);
    if (cls.patient && stages.recallAge) cls.ageYears = stages.recallAge(patientTokens, cls.patient.birthDate, now, view);
    const dataPeriod = stages.dataPeriod(resource);
    const isTransaction = resource.resourceType === 'Bundle' && resource.type === 'transaction';
    const entryDenials = isTransaction ? transactionDenials(req, resource, now, candidates) : new Map<string, TransactionDenial>();
    if (isTransaction && candidates.every((n) => entryDenials.has(n))) {
      // Nowhere may the whole transaction go: reject it, naming each entry and rule. The
      // rejection is audited like any denial (one entry per destination) before the answer.
      const issues = [...entryDenials.values()].flatMap((d) => d.issues);
      throw new TransactionRejected(
        { id, receivedAt, patientTokens, cls, prepared: candidates.map((name) => rejectedFor(name, { id, receivedAt, source: req.source, actor: req.actor, claimedSource: req.claimedSource, plain: req.plain, purpose: req.purpose }, cls, patientTokens, entryDenials.get(name))) },
        unprocessableAll(issues),
      );
    }
    const prepared = candidates.map((name) => {
      const v2Opaque = byName.get(name)?.format === 'hl7v2' && form?.opaque === true;
      const decision = stages.decide({ destinationName: name, destination: byName.get(name), purpose: req.purpose, classification: cls, source: req.source, now, ...(v2Opaque ? { opaque: true } : {}) });
      const denied = entryDenials.get(name);
      const refused = v2RouteRefusal(form, byName.get(name)?.format, opaqueVia.has(name));
      const effective: PolicyDecision = denied
        ? { ...decision, effect: 'deny', reasons: [{ text: `a transaction is all or nothing: ${denied.issues.map((i) => i.details?.text).join('; ')}` }] }
        : refused
          ? { ...decision, effect: 'deny', reasons: [{ text: refused }] }
          : decision;
      const m = { id, receivedAt, now, source: req.source, actor: req.actor, claimedSource: req.claimedSource, plain: req.plain, purpose: req.purpose, resource, v2: req.v2, dataPeriod, ...(conflict ? { identityConflict: conflict } : {}), ...(view ? { consents: view.consents } : {}) };
      return prepareFor(name, m, cls, patientTokens, effective);
    });
    return { id, receivedAt, prepared, patientTokens, cls };
  }

  /**
   * A transaction is all or nothing per destination: an entry the policy
   * denies for a destination keeps the whole bundle from that destination.
   */
  function transactionDenials(req: IngestRequest, bundle: FhirResource, now: Date, candidates: string[]): Map<string, TransactionDenial> {
    const perEntry = stages.classifyEntries(bundle, now);
    const denials = new Map<string, TransactionDenial>();
    perEntry.forEach((cls, index) => {
      for (const name of candidates) {
        const d = stages.decide({ destinationName: name, destination: byName.get(name), purpose: req.purpose, classification: cls, source: req.source, now });
        if (d.effect !== 'deny') continue;
        const denial = denials.get(name) ?? { issues: [], policySha256: d.policy.sha256 };
        const list = denial.issues;
        if (list.length < 20) {
          list.push({
            severity: 'error',
            code: 'forbidden',
            details: { text: `entry ${index} may not go to ${name}: ${d.reasons.map((r) => r.text).join('; ')} (rule ${d.ruleIds.join(', ')})` },
            expression: [`Bundle.entry[${index}]`],
          });
        }
        denials.set(name, denial);
      }
    });
    return denials;
  }

  function routeInput(req: IngestRequest, resource: FhirResource) {
    const resourceTypes =
      resource.resourceType === 'Bundle'
        ? [...new Set(((resource.entry as { resource: FhirResource }[] | undefined) ?? []).map((e) => e.resource.resourceType))]
        : [resource.resourceType];
    return { format: req.format, purpose: req.purpose, resourceTypes, source: req.source, messageType: req.messageType };
  }

  function candidatesFor(req: IngestRequest, resource: FhirResource): string[] {
    const routed = route(config.routes, routeInput(req, resource));
    let names = routed.destinations;
    if (req.destinations?.length) {
      const wanted = new Set(req.destinations);
      names = names.filter((n) => wanted.has(n));
      if (!names.length) {
        throw new OperationOutcomeError(
          unprocessable(`No route sends this message to ${req.destinations.join(', ')} for purpose ${req.purpose}`, 'X-Destination'),
        );
      }
    }
    if (!names.length) throw new OperationOutcomeError(unprocessable(`No route matches this message (purpose ${req.purpose}, format ${req.format})`));
    return names;
  }

  /** `answer` is what a retry with the same Idempotency-Key gets back. */
  async function commit(d: Decided, req: IngestRequest, answer: IngestAnswer, idempotencyKey?: string) {
    const stored = req.responseFor ? req.responseFor(answer) : JSON.stringify(answer);
    const items = d.prepared.flatMap((p) => (p.item ? [p.item] : []));
    const facts = factsOf(d.cls);
    await store.accept({
      message: {
        id: d.id,
        receivedAt: d.receivedAt,
        source: req.source,
        purpose: req.purpose,
        format: req.format,
        // Stored with the PHI-free facts the policy saw, so a decision can be explained later.
        outcomes: JSON.stringify(d.prepared.map((p) => ({ ...p.outcome, facts }))),
        ...(idempotencyKey ? { idempotencyKey } : {}),
      },
      items,
      audit: d.prepared.flatMap((p) => p.audit),
      ...(idempotencyKey ? { idempotency: { key: idempotencyKey, response: stored, requestSha256: requestSha256(req) } } : {}),
    });
    for (const p of d.prepared) opts.observer?.decided?.(p.outcome.name, p.outcome.decision);
    if (items.length) opts.onQueued?.(items.map((i) => i.destination));
    return stored;
  }

  async function ingest(original: IngestRequest): Promise<IngestResult> {
    // One sender's key never answers for another sender, nor HTTP for MLLP; and a key is bound to its request.
    const idem = original.idempotencyKey ? scopeIdempotency(original) : undefined;
    const req: IngestRequest = idem ? { ...original, idempotencyKey: idem.key } : original;
    if (idem) {
      const prior = await store.findIdempotent(idem.key);
      if (prior !== undefined) return replay(prior.response, prior.requestSha256, idem.requestSha256);
    }
    const now = clock();
    const resource = req.resource;
    if (resource.resourceType === 'Bundle' && resource.type === 'batch') return ingestBatch(req, resource, now);
    const candidates = candidatesFor(req, resource);
    let d: Decided;
    try {
      d = await decideMessage(req, resource, now, candidates);
    } catch (err) {
      if (!(err instanceof TransactionRejected)) throw err;
      // No idempotency record: a retry of a rejected transaction is judged again.
      await commit(err.decided, req, { id: err.decided.id, destinations: err.decided.prepared.map((p) => p.outcome) });
      throw err;
    }
    const answer: IngestAnswer = { id: d.id, destinations: d.prepared.map((p) => p.outcome) };
    try {
      const stored = await commit(d, req, answer, req.idempotencyKey);
      return { kind: 'accepted', answer, stored };
    } catch (err) {
      // Two concurrent requests with one key: the store kept the first; answer as it did.
      if (err instanceof DuplicateIdempotencyKeyError) return replay(err.response, err.requestSha256, idem?.requestSha256);
      throw err;
    }
  }

  /** A batch is judged entry by entry: each entry becomes its own message. */
  async function ingestBatch(req: IngestRequest, bundle: FhirResource, now: Date): Promise<IngestResult> {
    const entries = (bundle.entry as { resource: FhirResource }[] | undefined) ?? [];
    const batchId = newId();
    const results: NonNullable<IngestAnswer['entries']> = [];
    const decided: { d: Decided; answer: IngestAnswer }[] = [];
    for (const [index, entry] of entries.entries()) {
      const refused = batchEntryRefusal(entry, index);
      if (refused) {
        results.push({ index, id: '', status: statusOf(refused), destinations: [], outcome: refused.outcome });
        continue;
      }
      try {
        const candidates = candidatesFor(req, entry.resource);
        const d = await decideMessage(req, entry.resource, now, candidates);
        const queued = d.prepared.filter((p) => p.outcome.decision === 'queued').length;
        const answer: IngestAnswer = { id: d.id, destinations: d.prepared.map((p) => p.outcome) };
        decided.push({ d, answer });
        results.push({
          index,
          id: d.id,
          destinations: answer.destinations,
          outcome: outcomeOf([
            {
              severity: queued ? 'information' : 'warning',
              code: queued ? 'informational' : 'forbidden',
              details: { text: queued ? `queued for ${queued} destination(s)` : 'denied for every destination' },
              expression: [`Bundle.entry[${index}]`],
            },
          ]),
        });
      } catch (err) {
        if (!(err instanceof OperationOutcomeError)) throw err;
        results.push({
          index,
          id: '',
          // The HTTP status this entry alone would have had (a batch-response entry carries it).
          status: err.status,
          destinations: [],
          outcome: outcomeOf(err.result.outcome.issue.map((i) => ({ ...i, expression: [`Bundle.entry[${index}]`] }))),
        });
      }
    }
    const answer: IngestAnswer = { id: batchId, destinations: [], entries: results };
    // All entries are handed to the store in the same tick, so group commit writes them together.
    const stored = await Promise.all(decided.map(({ d, answer: a }, i) => (i === decided.length - 1 ? commit(d, req, answer, req.idempotencyKey) : commit(d, req, a))));
    return { kind: 'accepted', answer, stored: stored[stored.length - 1] ?? JSON.stringify(answer) };
  }

  return { ingest, candidatesFor };
}

export type Pipeline = ReturnType<typeof createPipeline>;

/**
 * The stored key: (source, protocol, the sender's key), hashed so that no sender-chosen text is a
 * database key and no two scopes can collide. The source is the authenticated sender.
 */
export function scopeIdempotency(req: IngestRequest): { key: string; requestSha256: string } {
  const key = createHash('sha256').update(`${req.source}\u0000${req.format}\u0000${req.idempotencyKey ?? ''}`).digest('hex');
  return { key: `idem:v1:${key}`, requestSha256: requestSha256(req) };
}

/**
 * What a request is, for idempotency: its purpose, destinations and content. HL7 v2 is hashed with
 * MSH-7 (the message time) blanked, since senders that resend a message may stamp it anew.
 */
export function requestSha256(req: IngestRequest): string {
  const content = req.v2 !== undefined ? req.v2.replace(/^(MSH(.)(?:[^\r\n]*?\2){5})[^\r\n]*?(?=\2|[\r\n]|$)/, '$1') : JSON.stringify(req.resource);
  return createHash('sha256')
    .update(JSON.stringify({ purpose: req.purpose, destinations: req.destinations ?? null, format: req.format }))
    .update('\u0000')
    .update(content)
    .digest('hex');
}

/** A repeated key: the first answer when it is the same request, a 422 naming the conflict when it is not. */
function replay(stored: string, firstSha256: string | undefined, thisSha256: string | undefined): IngestResult {
  if (firstSha256 && thisSha256 && firstSha256 !== thisSha256) {
    throw new OperationOutcomeError(
      unprocessable('this Idempotency-Key was already used with a different request; use a new key for a new request', undefined, 'conflict'),
    );
  }
  return { kind: 'duplicate', stored };
}

/** Why a transaction may not go to one destination: an issue per denied entry, and the policy that said so. */
interface TransactionDenial {
  issues: OperationOutcomeIssue[];
  policySha256: string;
}
