/**
 * The database: SQLite's `PRAGMA integrity_check` over every page, and the audit log verified
 * from its entries against the gateway's listed signing keys (one read snapshot, so a running
 * gateway may keep writing).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { databaseFile, openDatabase, type Db } from '../../store/index.js';
import { verifyLog } from '../../audit/index.js';
import { fail, ok, skip, type Finding } from '../finding.js';
import type { DoctorContext } from './context.js';
import { listedPublicKeys } from './keys.js';

const RESTORE = 'stop the gateway and restore the latest backup (`darwaza restore FILE --data DIR`); `sqlite3 darwaza.db .recover` saves what is still readable';

/** integrity_check's problems (empty = ok); the first few lines only. */
export function integrityProblems(db: Db, max = 5): string[] {
  const rows = db.pragma(`integrity_check(${max})`) as Array<{ integrity_check: string }>;
  return rows.map((r) => r.integrity_check).filter((r) => r !== 'ok');
}

export async function checkDatabase(ctx: DoctorContext): Promise<Finding[]> {
  const file = databaseFile(ctx.dataDir);
  if (!existsSync(file)) return [skip('database', `no database at ${file} yet (the gateway makes it on first start)`)];
  let db: Db | undefined;
  const out: Finding[] = [];
  try {
    db = openDatabase(file, { readonly: true });
    const problems = integrityProblems(db);
    if (problems.length) {
      return [fail('database', `integrity_check found damage in ${file}: ${problems.join('; ').slice(0, 400)}`, RESTORE)];
    }
    out.push(ok('database', `integrity_check: every page of ${file} is sound`));
    out.push(await checkAudit(db, ctx));
    return out;
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (/CORRUPT|NOTADB/.test(code)) return [...out, fail('database', `${file} is damaged (${code})`, RESTORE)];
    return [...out, fail('database', `${file} cannot be read: ${(err as Error).message.slice(0, 200)}`, 'check the file\'s owner and mode, and that the disk is healthy (`dmesg`)')];
  } finally {
    db?.close();
  }
}

async function checkAudit(db: Db, ctx: DoctorContext): Promise<Finding> {
  if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit_entries'").get()) {
    return skip('audit', 'the database has no audit log yet');
  }
  if (!existsSync(join(ctx.certsDir, 'signing-keys.json'))) return skip('audit', 'no signing-keys.json: the audit log was not verified (see the keys finding)');
  db.exec('BEGIN');
  try {
    const r = await verifyLog(db, listedPublicKeys(ctx.certsDir));
    if (!r.ok) {
      return fail('audit', `the audit log does not verify: ${r.reason}`, 'preserve the database as evidence (copy it read-only), report it as a security incident, then `darwaza audit verify` for the details');
    }
    return ok('audit', `the audit log verifies: ${r.size} entries, ${r.heads} signed tree heads${r.unsignedTail ? ` (${r.unsignedTail} newer entries not yet under a head)` : ''}`);
  } finally {
    if (db.inTransaction) db.exec('ROLLBACK');
  }
}
