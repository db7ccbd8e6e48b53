/**
 * The shared store of a pair (store.kind "postgres"): reachable, durable as darwaza's
 * promises need (fsync and synchronous_commit on), with a synchronous standby (else a primary
 * lost after an acknowledgement can lose that message), and its audit log verifying against
 * the gateway's listed signing keys. The URL is never printed: it may hold a password.
 */
import pg from 'pg';
import { PostgresAuditLog, verifyPostgresLog } from '../../audit/index.js';
import { fail, ok, skip, warn, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';
import { listedPublicKeys } from './keys.js';

/** The URL as it may be shown: user, host, port and database; never a password. */
export function shownUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.username ? `${decodeURIComponent(u.username)}@` : ''}${u.host}${u.pathname}`;
  } catch {
    return '(the store.url of the config)';
  }
}

export async function checkSharedStore(ctx: DoctorContext): Promise<Finding[]> {
  const store = ctx.config?.store;
  if (store?.kind !== 'postgres') return [skip('shared-store', 'the state is in the embedded SQLite file (store.kind "sqlite")')];
  const where = shownUrl(store.url);
  const client = new pg.Client({ connectionString: store.url, connectionTimeoutMillis: ctx.timeoutMs });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (err) {
    const code = (err as { code?: string }).code ?? (err as Error).name;
    return [fail('shared-store', `PostgreSQL at ${where} cannot be reached (${code})`, 'check that the server runs and that this appliance may connect (pg_hba.conf, firewall, the password); the gateways answer 503 until it can')];
  }
  const out: Finding[] = [];
  try {
    const setting = async (name: string) => String((await client.query<{ v: string }>('SELECT current_setting($1) AS v', [name])).rows[0]?.v ?? '');
    const version = await setting('server_version');
    out.push(ok('shared-store', `PostgreSQL ${version} at ${where} answers`));
    if ((await setting('fsync')) !== 'on') out.push(fail('shared-store', 'fsync is off: a power cut can lose acknowledged messages', 'set fsync = on in postgresql.conf and reload'));
    const syncCommit = await setting('synchronous_commit');
    if (syncCommit === 'off' || syncCommit === 'local') out.push(fail('shared-store', `synchronous_commit is ${syncCommit}: an acknowledgement would not wait for durable storage (or the standby)`, 'set synchronous_commit = on (or remote_apply) for the darwaza database'));
    const standbys = await setting('synchronous_standby_names');
    if (!standbys) {
      out.push(warn('shared-store', 'no synchronous standby (synchronous_standby_names is empty): if this server is lost, what it acknowledged since its last backup is lost with it', 'add a streaming standby and name it in synchronous_standby_names (docs/ha.md)'));
    } else out.push(ok('shared-store', `synchronous standby: ${standbys}`));
    out.push(await checkSharedAudit(store.url, ctx));
    return out;
  } catch (err) {
    return [...out, fail('shared-store', `PostgreSQL at ${where} could not be checked: ${(err as Error).message.slice(0, 200)}`, 'check the darwaza role\'s rights on its database')];
  } finally {
    await client.end().catch(() => {});
  }
}

async function checkSharedAudit(url: string, ctx: DoctorContext): Promise<Finding> {
  const keys = (() => {
    try {
      return listedPublicKeys(ctx.certsDir);
    } catch {
      return [];
    }
  })();
  if (keys.length === 0) return skip('audit', 'no listed signing keys: the shared audit log was not verified (see the keys finding)');
  let log: PostgresAuditLog | undefined;
  try {
    log = await PostgresAuditLog.open({ url, nodeId: 'doctor', migrate: false, poolMax: 2 });
    if ((await log.size()) === 0) return skip('audit', 'the shared audit log is empty');
    const r = await verifyPostgresLog(log, keys);
    if (!r.ok) return fail('audit', `the shared audit log does not verify: ${r.reason}`, 'preserve the database as evidence (pg_dump), report it as a security incident, then `darwaza audit verify --store URL` for the details');
    return ok('audit', `the shared audit log verifies: ${r.size} entries, ${r.heads} signed tree heads${r.unsignedTail ? ` (${r.unsignedTail} newer entries not yet under a head)` : ''}`);
  } catch (err) {
    const missing = (err as { code?: string }).code === '42P01';
    return missing ? skip('audit', 'the shared database has no audit log yet (no gateway has started on it)') : fail('audit', `the shared audit log could not be read: ${(err as Error).message.slice(0, 200)}`, 'check the darwaza role\'s rights on its database');
  } finally {
    await log?.close();
  }
}
