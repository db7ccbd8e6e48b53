/**
 * The send-time re-check: right before delivery, the policy in force now and the
 * consents held now judge the stored context of a queued item again. A withdrawal
 * or a stricter policy thus reaches messages that are still queued. Pure but for the
 * injected stages (which read the current policy and the consent registry).
 */
import type { AuditEvent, Classification } from '../model/index.js';
import type { DestinationConfig } from '../config/index.js';
import { consentRequest, type ConsentStore, type StoredConsent } from '../consent/index.js';
import { auditEvents } from '../audit/index.js';
import { parseItemContext } from './context.js';
import type { Stages } from './stages.js';

/** The part of a queued item the re-check reads. */
export interface RecheckItem {
  messageId: string;
  destination: string;
  patientTokens: string[];
  /** The ItemContext JSON ingest stored. */
  context: string;
}

export type RecheckVerdict = { kind: 'ok' } | { kind: 'withdraw'; reason: string; audit?: AuditEvent[] };

export interface RecheckOptions {
  stages: Pick<Stages, 'decide' | 'checkConsent'>;
  destinations: readonly DestinationConfig[];
  /** The appliance's zone for date-only consent periods (config.timezone). */
  timezone: string;
  clock: () => Date;
  /**
   * The item's patient consents as read just before (a ConsentPrefetch), for a store read
   * asynchronously; absent: the consent stage asks its synchronous registry.
   */
  consentsOf?: (item: RecheckItem) => readonly StoredConsent[];
}

/**
 * Builds the re-check. It throws StoredContextError for a context it cannot read (an
 * unknown version, a bad shape): the dispatcher then keeps the row and does not send it.
 */
export function createRecheck(opts: RecheckOptions): (item: RecheckItem) => RecheckVerdict {
  const byName = new Map<string, DestinationConfig>(opts.destinations.map((d) => [d.name, d]));
  return (item) => {
    const ctx = parseItemContext(item.context);
    const destination = byName.get(item.destination);
    const now = opts.clock();
    const classification: Classification = { ...ctx.classification, patient: null };
    const d = opts.stages.decide({ destinationName: item.destination, destination, purpose: ctx.purpose, classification, source: ctx.source, now });
    const base = { time: now, messageId: item.messageId, destination: item.destination, purpose: ctx.purpose, patientToken: item.patientTokens[0] };
    if (d.effect === 'deny') {
      const reason = `the policy in force (${d.policy.sha256.slice(0, 12)}) now denies: ${d.reasons.map((r) => r.text).join('; ')}`.slice(0, 300);
      return { kind: 'withdraw', reason, audit: [auditEvents.purged({ ...base, policySha256: d.policy.sha256, ruleIds: d.ruleIds, reason })] };
    }
    if (ctx.consentRequired && destination) {
      const request = consentRequest({
        classification,
        destination,
        purpose: ctx.purpose,
        ...(ctx.dataPeriod ? { dataPeriod: ctx.dataPeriod } : {}),
        now,
        timezone: opts.timezone,
      });
      const consents = opts.consentsOf?.(item);
      const c = opts.stages.checkConsent({ patientTokens: item.patientTokens, request, ...(consents ? { consents } : {}) });
      if (c.effect === 'deny') {
        const reason = `consent no longer permits: ${c.reasons.map((r) => r.text).join('; ')}`.slice(0, 300);
        return { kind: 'withdraw', reason, audit: [auditEvents.consentWithdrawn({ ...base, consentId: c.consentId, consentVersion: c.consentVersion, reason })] };
      }
    }
    return { kind: 'ok' };
  };
}

/**
 * The consents the send-time re-check reads, fetched for the rows a claim returned (one read
 * per row, concurrently) right before they are judged, when the registry cannot be read
 * synchronously (PostgreSQL). Each fetch is used once: a row claimed again is read again, so a
 * withdrawal committed on any node reaches the next claim of the row.
 */
export interface ConsentPrefetch {
  prepare(items: readonly RecheckItem[]): Promise<void>;
  /** The consents fetched for this row; throws when none were (the dispatcher keeps the row, retries later). */
  consentsOf(item: RecheckItem): readonly StoredConsent[];
}

export function createConsentPrefetch(store: Pick<ConsentStore, 'forTokens'>): ConsentPrefetch {
  const fetched = new Map<string, readonly StoredConsent[]>();
  const keyOf = (i: RecheckItem) => `${i.messageId}\u0000${i.destination}`;
  return {
    async prepare(items) {
      await Promise.all(items.map(async (i) => fetched.set(keyOf(i), i.patientTokens.length ? await store.forTokens(i.patientTokens) : [])));
    },
    consentsOf(item) {
      const key = keyOf(item);
      const c = fetched.get(key);
      if (!c) throw new Error('the consents of a queued row were not read before its re-check');
      fetched.delete(key);
      return c;
    },
  };
}
