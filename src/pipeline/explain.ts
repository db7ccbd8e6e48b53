/**
 * Why a stored message went where it went: the outcomes ingest stored, with the
 * rule-by-rule trace of the policy in force re-run on the PHI-free facts each
 * decision rested on. Pure: the message and the policy are passed in.
 */
import { decide, explain, type CompiledPolicy } from '../policy/index.js';
import { isPurposeOfUse, type PolicyRef } from '../model/index.js';
import type { DestinationConfig } from '../config/index.js';
import { parseStoredOutcomes, type DecisionFacts, type StoredOutcome } from './context.js';

/** The stored message, as the queue store returns it (`outcomes` is the parsed JSON). */
export interface StoredMessage {
  id: string;
  receivedAt: string;
  purpose: string;
  source: string;
  outcomes: unknown;
}

export interface MessageExplanation {
  message: { id: string; receivedAt: string; purpose: string; source: string };
  policyInForce: PolicyRef;
  destinations: (Omit<StoredOutcome, 'facts'> & { facts?: DecisionFacts; trace?: string[]; note?: string })[];
}

export function explainMessage(m: StoredMessage, policy: CompiledPolicy, destinations: readonly DestinationConfig[]): MessageExplanation {
  const byName = new Map(destinations.map((d) => [d.name, d]));
  const outcomes = parseStoredOutcomes(m.outcomes);
  return {
    message: { id: m.id, receivedAt: m.receivedAt, purpose: m.purpose, source: m.source },
    policyInForce: policy.ref,
    destinations: outcomes.map((o) => {
      const base = { name: o.name, decision: o.decision, reasons: o.reasons, policy: o.policy, ruleIds: o.ruleIds, consent: o.consent, facts: o.facts };
      if (!o.facts || !isPurposeOfUse(m.purpose)) return base;
      // Re-run the policy on the stored facts: the rule-by-rule trace, in plain words.
      const d = decide(policy, {
        destinationName: o.name,
        destination: byName.get(o.name),
        purpose: m.purpose,
        classification: { ...o.facts, patient: null },
        source: m.source,
        now: new Date(m.receivedAt),
      });
      const samePolicy = o.policy?.sha256 === policy.ref.sha256;
      return {
        ...base,
        trace: explain(d).split('\n'),
        ...(samePolicy ? {} : { note: `the policy in force now (${policy.ref.sha256.slice(0, 16)}…) is not the one that decided (${o.policy?.sha256.slice(0, 16)}…): the trace shows how today's policy reasons about the same facts` }),
      };
    }),
  };
}
