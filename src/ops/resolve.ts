/**
 * Breach notification on the appliance: the breach report names patients by token; here an
 * auditor turns those tokens back into the identifiers the hospital needs to reach them.
 * Tokens are keyed hashes, so nothing is decrypted from them: a token is matched against
 * (a) the consents the registry indexes under it (their patient reference and identifiers),
 * and (b) optionally a list of candidate identifiers from the hospital's own patient index,
 * each tokenized here with the appliance's key. Every lookup is one audit entry; nothing
 * leaves the appliance (the caller prints to the auditor's terminal).
 */
import { auditEvents, type AuditLog } from '../audit/index.js';
import type { ConsentRegistry } from '../consent/index.js';

export interface ResolvedToken {
  token: string;
  identifiers: Array<{ value: string; from: 'consent' | 'candidates' }>;
}

export interface ResolveOptions {
  tokens: readonly string[];
  consents?: Pick<ConsentRegistry, 'get' | 'forTokens'>;
  /** Candidate identifiers (as the classifier records them: cnic|…, system|value, Patient/ID) and the tokens they give. */
  candidates?: ReadonlyArray<{ value: string; tokens: readonly string[] }>;
  audit: Pick<AuditLog, 'append'>;
  actor: string;
  clock?: () => Date;
}

/** The patient reference and identifiers a Consent names (what the hospital can act on). */
function patientIdsOf(resource: unknown): string[] {
  const p = (resource as { patient?: { reference?: unknown; identifier?: { system?: unknown; value?: unknown } } })?.patient;
  const out: string[] = [];
  if (typeof p?.reference === 'string') out.push(p.reference);
  if (typeof p?.identifier?.value === 'string') out.push(`${typeof p.identifier.system === 'string' ? p.identifier.system : ''}|${p.identifier.value}`);
  return out;
}

export function resolveTokens(o: ResolveOptions): ResolvedToken[] {
  const clock = o.clock ?? (() => new Date());
  const out: ResolvedToken[] = [];
  for (const token of new Set(o.tokens)) {
    const found = new Map<string, 'consent' | 'candidates'>();
    for (const c of o.consents?.forTokens([token]) ?? []) {
      for (const v of patientIdsOf(o.consents?.get(c.id)?.resource)) if (!found.has(v)) found.set(v, 'consent');
    }
    for (const c of o.candidates ?? []) if (c.tokens.includes(token) && !found.has(c.value)) found.set(c.value, 'candidates');
    out.push({ token, identifiers: [...found].map(([value, from]) => ({ value, from })) });
    // One entry per lookup, found or not: who looked up which token, never the identifier.
    o.audit.append([
      auditEvents.adminAction({
        time: clock(),
        patientToken: token,
        reason: `breach notification: token looked up on the appliance (${found.size ? 'resolved' : 'not resolved'})`,
        actor: o.actor,
      }),
    ]);
  }
  return out;
}
