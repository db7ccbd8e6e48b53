/**
 * Exports of the PostgreSQL audit log in exactly the format of the SQLite one
 * (src/audit/export.ts): the same files, manifest, README and proofs, so an export from either
 * store is checked by `darwaza audit verify --offline` alike. Entries carry their `node`.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditEntry } from '../entry.js';
import { EXPORT_FILES, ExportError, README, README_RANGE, type ExportManifest, type ExportOptions, type GatewayPublicKeyFile, type ProofLine, type TreeHeadsFile } from '../export.js';
import { toFhirAuditEvent } from '../fhir.js';
import { keyFingerprint, type SignedTreeHead } from '../heads.js';
import type { PostgresAuditLog } from './log.js';

async function indexRange(log: PostgresAuditLog, end: number, since?: string, until?: string) {
  const first = since
    ? Number((await log.pool.query<{ m: string | null }>('SELECT MIN(idx) AS m FROM audit_entries WHERE time >= $1 AND idx < $2', [since, end])).rows[0]?.m ?? end)
    : 0;
  const lastRaw = until ? (await log.pool.query<{ m: string | null }>('SELECT MAX(idx) AS m FROM audit_entries WHERE time < $1 AND idx < $2', [until, end])).rows[0]?.m ?? null : end - 1;
  const endIndex = lastRaw === null ? first : Math.max(first, Number(lastRaw) + 1);
  return { firstIndex: first, endIndex };
}

/** Entries [from, to) in pages. */
export async function* pagesOf(log: PostgresAuditLog, from: number, to: number) {
  let i = from;
  while (i < to) {
    const rows = await log.page(i, to);
    if (rows.length === 0) return;
    yield rows;
    i = rows[rows.length - 1]!.index + 1;
  }
}

export async function exportPostgresLog(log: PostgresAuditLog, opts: ExportOptions): Promise<ExportManifest> {
  const clock = opts.clock ?? (() => new Date());
  for (const [name, v] of [['since', opts.since], ['until', opts.until]] as const) {
    if (v !== undefined && Number.isNaN(Date.parse(v))) throw new ExportError(`--${name} must be an ISO-8601 date or instant`);
  }
  const since = opts.since ? new Date(opts.since).toISOString() : undefined;
  const until = opts.until ? new Date(opts.until).toISOString() : undefined;
  mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  const kind = opts.format ?? 'native';

  if (kind === 'fhir') {
    const size = await log.size();
    const { firstIndex, endIndex } = await indexRange(log, size, since, until);
    const fd = openSync(join(opts.out, EXPORT_FILES.fhir), 'w', 0o600);
    try {
      for await (const rows of pagesOf(log, firstIndex, endIndex)) {
        writeSync(fd, rows.map((r) => JSON.stringify(toFhirAuditEvent(r.index, r.text, JSON.parse(r.text) as AuditEntry))).join('\n') + '\n');
      }
    } finally {
      closeSync(fd);
    }
    const manifest: ExportManifest = {
      format: 'darwaza-audit-export', v: 1, kind, scope: 'range', createdAt: clock().toISOString(), treeSize: size,
      range: { since, until, firstIndex, endIndex, count: endIndex - firstIndex }, entries: { from: firstIndex, to: endIndex },
      files: [EXPORT_FILES.fhir, EXPORT_FILES.manifest],
    };
    writeFileSync(join(opts.out, EXPORT_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
    return manifest;
  }

  const latest = await log.latestHead();
  if (!latest) throw new ExportError('no signed tree head yet: the leader signs one every minute');
  const treeSize = latest.treeSize;
  const heads: SignedTreeHead[] = (await log.heads()).filter((h) => h.treeSize <= treeSize);
  const usedKeys = new Set(heads.map((h) => h.keyId));
  const keyFile: GatewayPublicKeyFile = {
    algorithm: 'Ed25519',
    keys: (await log.keys())
      .filter((k) => usedKeys.has(k.keyId))
      .map((k) => ({ keyId: k.keyId, publicKey: Buffer.from(k.publicKey).toString('base64'), fingerprintSha256: keyFingerprint(k.publicKey) })),
  };
  const { firstIndex, endIndex } = await indexRange(log, treeSize, since, until);
  const scope = opts.scope ?? 'full';
  const from = scope === 'full' ? 0 : Math.max(0, firstIndex - 1);
  const to = scope === 'full' ? treeSize : Math.min(treeSize, endIndex + 1);
  const fd = openSync(join(opts.out, EXPORT_FILES.entries), 'w', 0o600);
  const pfd = scope === 'range' ? openSync(join(opts.out, EXPORT_FILES.proofs), 'w', 0o600) : undefined;
  try {
    for await (const rows of pagesOf(log, from, to)) {
      writeSync(fd, rows.map((r) => r.text).join('\n') + '\n');
      if (pfd !== undefined) {
        const lines: string[] = [];
        for (const r of rows) {
          const p = await log.inclusionProof(r.index, treeSize);
          const line: ProofLine = { index: r.index, auditPath: p.auditPath.map((h) => h.toString('hex')) };
          lines.push(JSON.stringify(line));
        }
        writeSync(pfd, lines.join('\n') + '\n');
      }
    }
  } finally {
    closeSync(fd);
    if (pfd !== undefined) closeSync(pfd);
  }
  const headsFile: TreeHeadsFile = { heads };
  if (scope === 'range') {
    headsFile.consistency = [];
    for (const m of [...new Set(heads.map((h) => h.treeSize))].filter((m) => m > 0 && m < treeSize)) {
      headsFile.consistency.push({ fromSize: m, toSize: treeSize, path: (await log.consistencyProof(m, treeSize)).map((h) => h.toString('hex')) });
    }
  }
  const manifest: ExportManifest = {
    format: 'darwaza-audit-export', v: 1, kind, scope, createdAt: clock().toISOString(), treeSize,
    range: { since, until, firstIndex, endIndex, count: endIndex - firstIndex },
    entries: { from, to },
    files: [EXPORT_FILES.entries, ...(scope === 'range' ? [EXPORT_FILES.proofs] : []), EXPORT_FILES.heads, EXPORT_FILES.key, EXPORT_FILES.manifest, EXPORT_FILES.readme],
  };
  writeFileSync(join(opts.out, EXPORT_FILES.heads), JSON.stringify(headsFile, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(join(opts.out, EXPORT_FILES.key), JSON.stringify(keyFile, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(join(opts.out, EXPORT_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(join(opts.out, EXPORT_FILES.readme), scope === 'range' ? README + README_RANGE : README, { mode: 0o600 });
  return manifest;
}
