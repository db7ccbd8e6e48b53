/**
 * Reports straight from the log: every disclosure of one patient (by token), and the
 * breach-notification summary for a time window. Pure reads; no PHI goes in or out
 * (the caller tokenizes the patient identity on the appliance, with src/crypto's
 * createTokenizer: base64url(HMAC-SHA256(token key, UTF-8 of PatientIdentity.key))).
 */
import type { Db } from '../store/index.js';
import type { AuditEntry } from './entry.js';

export interface DisclosureRow {
  index: number;
  time: string;
  event: string;
  /** True when data left the appliance (delivered). */
  disclosed: boolean;
  destination?: string;
  purpose?: string;
  decision?: string;
  dataClasses?: string[];
  consentId?: string;
  consentVersion?: string;
  policySha256?: string;
  ruleIds?: string[];
  messageId?: string;
}

/**
 * Every entry about the patient with one of these tokens, oldest first. Entries carry one
 * token (of the identity key); a queued message is indexed in the queue under a token of
 * every identifier and reference of its patient, so when that index is in the same
 * database, every entry of a message indexed under one of the tokens is included too.
 */
export function disclosures(db: Db, patientTokens: string | readonly string[]): DisclosureRow[] {
  const tokens = [...new Set(typeof patientTokens === 'string' ? [patientTokens] : patientTokens)];
  const marks = tokens.map(() => '?').join(',');
  const indexed = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name IN ('queue_item_patients', 'queue_items')").all().length === 2;
  // The index is written just after each acknowledgement: the rows past its high mark are
  // read from their own token lists, so a message acknowledged a moment ago is found too.
  const viaQueue = indexed
    ? ` OR message_id IN (SELECT i.message_id FROM queue_item_patients p JOIN queue_items i ON i.seq = p.seq WHERE p.token IN (${marks}))` +
      ` OR message_id IN (SELECT message_id FROM queue_items WHERE seq > (SELECT COALESCE(MAX(seq), 0) FROM queue_item_patients)` +
      ` AND EXISTS (SELECT 1 FROM json_each(patient_tokens) WHERE value IN (${marks})))`
    : '';
  const rows = db
    .prepare(`SELECT idx, entry FROM audit_entries WHERE patient_token IN (${marks})${viaQueue} ORDER BY idx`)
    .all(...tokens, ...(indexed ? [...tokens, ...tokens] : [])) as Array<{ idx: number; entry: string }>;
  const decisionOf = decisionLookup(db);
  return rows.map((r) => disclosureRow(r.idx, withDecision(JSON.parse(r.entry) as AuditEntry, decisionOf)));
}

/** One disclosure row from an entry (its decision's fields filled in). Shared by the SQLite and PostgreSQL reports. */
export function disclosureRow(index: number, e: AuditEntry): DisclosureRow {
  return {
    index,
    time: e.time,
    event: e.event,
    disclosed: e.event === 'delivered',
    destination: e.destination,
    purpose: e.purpose,
    decision: e.decision,
    dataClasses: e.dataClasses,
    consentId: e.consentId,
    consentVersion: e.consentVersion,
    policySha256: e.policySha256,
    ruleIds: e.ruleIds,
    messageId: e.messageId,
  };
}

/**
 * A delivery (or dead letter, withdrawal) entry records only the state change; what was
 * disclosed, for which purpose, under which policy and consent is in the message's
 * `decided` entry for that destination. Reports fill the missing fields from it.
 */
function decisionLookup(db: Db): (messageId: string, destination: string) => AuditEntry | undefined {
  const stmt = db.prepare("SELECT entry FROM audit_entries WHERE message_id = ? AND event = 'decided' ORDER BY idx").pluck();
  return (messageId, destination) =>
    (stmt.all(messageId) as string[]).map((t) => JSON.parse(t) as AuditEntry).find((d) => d.destination === destination);
}

function withDecision(e: AuditEntry, decisionOf: ReturnType<typeof decisionLookup>): AuditEntry {
  if (e.event === 'decided' || !e.messageId || !e.destination) return e;
  return withDecided(e, decisionOf(e.messageId, e.destination));
}

/** Whether an entry's missing fields come from its message's `decided` entry for its destination. */
export const needsDecision = (e: AuditEntry): boolean => e.event !== 'decided' && !!e.messageId && !!e.destination;

/** The entry with the fields its `decided` entry records (purpose, data classes, policy, consent, rules). */
export function withDecided(e: AuditEntry, d: AuditEntry | undefined): AuditEntry {
  if (!d) return e;
  return {
    ...e,
    purpose: e.purpose ?? d.purpose,
    dataClasses: e.dataClasses ?? d.dataClasses,
    consentId: e.consentId ?? d.consentId,
    consentVersion: e.consentVersion ?? d.consentVersion,
    policySha256: e.policySha256 ?? d.policySha256,
    ruleIds: e.ruleIds ?? d.ruleIds,
  };
}

export interface BreachReport {
  window: { since: string; until: string };
  destination?: string;
  events: string[];
  entries: number;
  messages: number;
  patients: string[];
  dataClasses: string[];
  destinations: Array<{ name: string; entries: number; patients: number }>;
  firstTime?: string;
  lastTime?: string;
}

export const DEFAULT_BREACH_EVENTS = ['delivered'] as const;

/** Patients (tokens), data classes and destinations touched in [since, until). */
export function breachReport(
  db: Db,
  opts: { since: string; until: string; destination?: string; events?: readonly string[] },
): BreachReport {
  const events = [...(opts.events ?? DEFAULT_BREACH_EVENTS)];
  const rows = db
    .prepare(
      `SELECT entry FROM audit_entries WHERE time >= ? AND time < ?
        AND event IN (${events.map(() => '?').join(',')}) ${opts.destination ? 'AND destination = ?' : ''} ORDER BY idx`,
    )
    .pluck()
    .all(opts.since, opts.until, ...events, ...(opts.destination ? [opts.destination] : [])) as string[];
  const decisionOf = decisionLookup(db);
  return breachOf(opts, events, rows.map((text) => withDecision(JSON.parse(text) as AuditEntry, decisionOf)));
}

/** The breach report from the window's entries (their decisions filled in). Shared by both logs. */
export function breachOf(opts: { since: string; until: string; destination?: string }, events: string[], entries: readonly AuditEntry[]): BreachReport {
  const patients = new Set<string>();
  const classes = new Set<string>();
  const messages = new Set<string>();
  const dests = new Map<string, { entries: number; patients: Set<string> }>();
  let firstTime: string | undefined;
  let lastTime: string | undefined;
  for (const e of entries) {
    if (e.patientToken) patients.add(e.patientToken);
    for (const c of e.dataClasses ?? []) classes.add(c);
    if (e.messageId) messages.add(e.messageId);
    const d = e.destination ?? '(none)';
    const slot = dests.get(d) ?? { entries: 0, patients: new Set<string>() };
    slot.entries++;
    if (e.patientToken) slot.patients.add(e.patientToken);
    dests.set(d, slot);
    if (!firstTime || e.time < firstTime) firstTime = e.time;
    if (!lastTime || e.time > lastTime) lastTime = e.time;
  }
  return {
    window: { since: opts.since, until: opts.until },
    ...(opts.destination ? { destination: opts.destination } : {}),
    events,
    entries: entries.length,
    messages: messages.size,
    patients: [...patients].sort(),
    dataClasses: [...classes].sort(),
    destinations: [...dests.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, s]) => ({ name, entries: s.entries, patients: s.patients.size })),
    firstTime,
    lastTime,
  };
}

/** The plain-text summary printed beside the JSON. */
export function breachSummary(r: BreachReport): string {
  const lines = [
    `Breach report for ${r.window.since} to ${r.window.until}${r.destination ? `, destination ${r.destination}` : ''}`,
    `Events counted: ${r.events.join(', ')}`,
    `Patients affected: ${r.patients.length} (listed by pseudonymous token in the JSON; resolve on the appliance only)`,
    `Messages: ${r.messages}; audit entries: ${r.entries}`,
    `Data classes: ${r.dataClasses.length ? r.dataClasses.join(', ') : 'none recorded'}`,
    `Destinations:`,
    ...(r.destinations.length ? r.destinations.map((d) => `  ${d.name}: ${d.entries} entries, ${d.patients} patients`) : ['  none']),
    r.firstTime ? `First and last event in the window: ${r.firstTime} / ${r.lastTime}` : 'No events in the window.',
    'Report to the regulator and the data subjects within 72 hours of becoming aware of the breach (PDPB draft 2023).',
  ];
  return lines.join('\n');
}

export interface BreakGlassUse {
  index: number;
  time: string;
  actor: string;
  protocol?: string;
  /** The reason as audited (digits scrubbed, length-capped). */
  reason?: string;
  messageId?: string;
  plain?: boolean;
  /** Where the message was decided for, and what was decided (from its `decided` entries). */
  destinations: Array<{ name: string; decision?: string }>;
}

export interface BreakGlassReport {
  window: { since?: string; until?: string };
  uses: number;
  actors: Array<{ actor: string; uses: number; first: string; last: string }>;
  entries: BreakGlassUse[];
}

/** Every break-glass (purpose ETREAT) use in [since, until), for review: who, when, why, which messages went where. */
export function breakGlassReport(db: Db, opts: { since?: string; until?: string } = {}): BreakGlassReport {
  const rows = db
    .prepare(`SELECT idx, entry FROM audit_entries WHERE event = 'break-glass' ${opts.since ? 'AND time >= ?' : ''} ${opts.until ? 'AND time < ?' : ''} ORDER BY idx`)
    .all(...(opts.since ? [opts.since] : []), ...(opts.until ? [opts.until] : [])) as Array<{ idx: number; entry: string }>;
  const decidedOf = db.prepare("SELECT entry FROM audit_entries WHERE message_id = ? AND event = 'decided' ORDER BY idx").pluck();
  return breakGlassOf(
    opts,
    rows.map((r) => {
      const e = JSON.parse(r.entry) as AuditEntry;
      return { index: r.idx, entry: e, decided: e.messageId ? (decidedOf.all(e.messageId) as string[]).map((t) => JSON.parse(t) as AuditEntry) : [] };
    }),
  );
}

/** The break-glass review from its entries, each with its message's `decided` entries. Shared by both logs. */
export function breakGlassOf(opts: { since?: string; until?: string }, rows: ReadonlyArray<{ index: number; entry: AuditEntry; decided: readonly AuditEntry[] }>): BreakGlassReport {
  const byActor = new Map<string, { uses: number; first: string; last: string }>();
  const entries = rows.map((r): BreakGlassUse => {
    const e = r.entry;
    const actor = e.actor ?? '(unknown)';
    const a = byActor.get(actor) ?? { uses: 0, first: e.time, last: e.time };
    a.uses++;
    if (e.time < a.first) a.first = e.time;
    if (e.time > a.last) a.last = e.time;
    byActor.set(actor, a);
    const destinations = r.decided.filter((d) => d.destination).map((d) => ({ name: d.destination!, ...(d.decision ? { decision: d.decision } : {}) }));
    return {
      index: r.index,
      time: e.time,
      actor,
      ...(e.protocol ? { protocol: e.protocol } : {}),
      ...(e.reason ? { reason: e.reason } : {}),
      ...(e.messageId ? { messageId: e.messageId } : {}),
      ...(e.plain ? { plain: true } : {}),
      destinations,
    };
  });
  return {
    window: { ...(opts.since ? { since: opts.since } : {}), ...(opts.until ? { until: opts.until } : {}) },
    uses: entries.length,
    actors: [...byActor.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([actor, s]) => ({ actor, ...s })),
    entries,
  };
}

/** The plain-text review list printed without --json. */
export function breakGlassSummary(r: BreakGlassReport): string {
  const window = r.window.since || r.window.until ? `${r.window.since ?? 'the beginning'} to ${r.window.until ?? 'now'}` : 'the whole log';
  const lines = [`Break-glass uses (purpose ETREAT) for ${window}: ${r.uses}`];
  if (r.uses === 0) return lines.join('\n');
  lines.push('By identity:');
  for (const a of r.actors) lines.push(`  ${a.actor}: ${a.uses} use${a.uses === 1 ? '' : 's'}, first ${a.first}, last ${a.last}`);
  lines.push('Each use (review every one):');
  for (const u of r.entries) {
    const where = u.destinations.length ? u.destinations.map((d) => `${d.name}${d.decision ? ` (${d.decision})` : ''}`).join(', ') : 'no destination recorded';
    lines.push(`  #${u.index} ${u.time} ${u.actor}${u.protocol ? ` over ${u.protocol}` : ''}${u.plain ? ' (plain, no TLS)' : ''}: message ${u.messageId ?? '-'} → ${where}`);
    lines.push(`      reason: ${u.reason ?? '(none recorded)'}`);
  }
  return lines.join('\n');
}

/**
 * Every sender source the log has recorded a message from. Patient tokens of a bare local id
 * are namespaced by source, so a lookup by such an id tries each of them.
 */
export function sourcesSeen(db: Db): string[] {
  const rows = db.prepare("SELECT DISTINCT json_extract(entry, '$.source') FROM audit_entries WHERE event IN ('received', 'decided')").pluck().all() as unknown[];
  return rows.filter((s): s is string => typeof s === 'string');
}
