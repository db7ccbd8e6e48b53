/**
 * The reports of src/audit/reports.ts over the log a pair shares: a patient's disclosures,
 * the breach report for a window, the break-glass review. Same rows, same semantics: the
 * pure builders are shared; only the reads differ. A message indexed in the queue under any
 * token of its patient counts, as on SQLite (the index is written in the accept transaction).
 */
import type { AuditEntry } from '../entry.js';
import { DEFAULT_BREACH_EVENTS, breachOf, breakGlassOf, disclosureRow, needsDecision, withDecided, type BreachReport, type BreakGlassReport, type DisclosureRow } from '../reports.js';
import type { PostgresAuditLog } from './log.js';

type Row = { idx: string; entry: string };

/** The `decided` entries of these messages, by message id (one query). */
async function decidedOf(log: PostgresAuditLog, messageIds: readonly string[]): Promise<Map<string, AuditEntry[]>> {
  const out = new Map<string, AuditEntry[]>();
  if (messageIds.length === 0) return out;
  const rows = (await log.pool.query<{ message_id: string; entry: string }>("SELECT message_id, entry FROM audit_entries WHERE message_id = ANY($1) AND event = 'decided' ORDER BY idx", [[...new Set(messageIds)]])).rows;
  for (const r of rows) out.set(r.message_id, [...(out.get(r.message_id) ?? []), JSON.parse(r.entry) as AuditEntry]);
  return out;
}

/** Entries with their decision's fields filled in. */
async function withDecisions(log: PostgresAuditLog, entries: AuditEntry[]): Promise<AuditEntry[]> {
  const decided = await decidedOf(log, entries.filter(needsDecision).map((e) => e.messageId!));
  return entries.map((e) => (needsDecision(e) ? withDecided(e, decided.get(e.messageId!)?.find((d) => d.destination === e.destination)) : e));
}

async function queueIndexed(log: PostgresAuditLog): Promise<boolean> {
  const r = await log.pool.query<{ t: string | null }>("SELECT to_regclass('queue_item_patients') AS t");
  return r.rows[0]?.t !== null;
}

export async function postgresDisclosures(log: PostgresAuditLog, patientTokens: string | readonly string[]): Promise<DisclosureRow[]> {
  const tokens = [...new Set(typeof patientTokens === 'string' ? [patientTokens] : patientTokens)];
  const viaQueue = (await queueIndexed(log)) ? ' OR message_id IN (SELECT i.message_id FROM queue_item_patients p JOIN queue_items i ON i.seq = p.seq WHERE p.token = ANY($1))' : '';
  const rows = (await log.pool.query<Row>(`SELECT idx, entry FROM audit_entries WHERE patient_token = ANY($1)${viaQueue} ORDER BY idx`, [tokens])).rows;
  const entries = await withDecisions(log, rows.map((r) => JSON.parse(r.entry) as AuditEntry));
  return entries.map((e, i) => disclosureRow(Number(rows[i]!.idx), e));
}

export async function postgresBreachReport(log: PostgresAuditLog, opts: { since: string; until: string; destination?: string; events?: readonly string[] }): Promise<BreachReport> {
  const events = [...(opts.events ?? DEFAULT_BREACH_EVENTS)];
  const rows = (
    await log.pool.query<Row>(
      `SELECT idx, entry FROM audit_entries WHERE time >= $1 AND time < $2 AND event = ANY($3) ${opts.destination ? 'AND destination = $4' : ''} ORDER BY idx`,
      [opts.since, opts.until, events, ...(opts.destination ? [opts.destination] : [])],
    )
  ).rows;
  return breachOf(opts, events, await withDecisions(log, rows.map((r) => JSON.parse(r.entry) as AuditEntry)));
}

export async function postgresBreakGlassReport(log: PostgresAuditLog, opts: { since?: string; until?: string } = {}): Promise<BreakGlassReport> {
  const params: string[] = [];
  const where = [`event = 'break-glass'`];
  if (opts.since) where.push(`time >= $${params.push(opts.since)}`);
  if (opts.until) where.push(`time < $${params.push(opts.until)}`);
  const rows = (await log.pool.query<Row>(`SELECT idx, entry FROM audit_entries WHERE ${where.join(' AND ')} ORDER BY idx`, params)).rows;
  const entries = rows.map((r) => JSON.parse(r.entry) as AuditEntry);
  const decided = await decidedOf(log, entries.flatMap((e) => (e.messageId ? [e.messageId] : [])));
  return breakGlassOf(
    opts,
    entries.map((entry, i) => ({ index: Number(rows[i]!.idx), entry, decided: entry.messageId ? (decided.get(entry.messageId) ?? []) : [] })),
  );
}

/** Every sender source the shared log has recorded a message from (a bare local id's tokens are namespaced by source). */
export async function postgresSourcesSeen(log: PostgresAuditLog): Promise<string[]> {
  const rows = (await log.pool.query<{ s: string | null }>("SELECT DISTINCT (entry::json)->>'source' AS s FROM audit_entries WHERE event IN ('received', 'decided')")).rows;
  return rows.flatMap((r) => (typeof r.s === 'string' ? [r.s] : []));
}
