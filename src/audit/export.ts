/**
 * Exports for regulators.
 *
 * Native (verifiable) export, a self-contained folder:
 *   entries.ndjson           every entry from index 0 up to the latest signed head, one per
 *                            line, the exact canonical bytes that were hashed (line i = index i)
 *   tree-heads.json          { heads: [...] } every signed head up to that size
 *   gateway-public-key.json  the Ed25519 public key(s) that signed them, with fingerprints
 *   manifest.json            what was asked (since/until) and which indices that range is
 *   README.txt               how to verify by hand
 * scope 'full' (default): a time range is marked in manifest.json, not cut out: the verifier
 * recomputes every root from index 0, the strongest check, needing no proofs. Entries carry
 * only pseudonymous tokens and codes, so the cost is size (and other patients' tokens).
 * scope 'range': only the range's entries (plus one boundary entry each side), each with an
 * inclusion proof against the latest signed head (inclusion-proofs.ndjson), and consistency
 * proofs from every earlier head to it (tree-heads.json "consistency").
 * Entries newer than the latest signed head are not exported (nothing vouches for them yet).
 *
 * FHIR export: AuditEvent.ndjson with one FHIR R4 AuditEvent per entry in the range.
 */
import { closeSync, mkdirSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { AuditLog } from './log.js';
import { keyFingerprint, type SignedTreeHead } from './heads.js';
import { toFhirAuditEvent } from './fhir.js';
import type { AuditEntry } from './entry.js';

export const EXPORT_FILES = {
  entries: 'entries.ndjson',
  heads: 'tree-heads.json',
  key: 'gateway-public-key.json',
  manifest: 'manifest.json',
  readme: 'README.txt',
  fhir: 'AuditEvent.ndjson',
  proofs: 'inclusion-proofs.ndjson',
} as const;

export interface ExportManifest {
  format: 'darwaza-audit-export';
  v: 1;
  kind: 'native' | 'fhir';
  /** full: every entry from 0; range: only the range (plus one boundary entry each side) with proofs. */
  scope: 'full' | 'range';
  createdAt: string;
  /** Entries in entries.ndjson (= the latest exported head's treeSize). */
  treeSize: number;
  range: { since?: string; until?: string; firstIndex: number; endIndex: number; count: number };
  /** Indices held in entries.ndjson: [from, to). */
  entries: { from: number; to: number };
  files: string[];
}

/** tree-heads.json */
export interface TreeHeadsFile {
  heads: SignedTreeHead[];
  /** Range exports: RFC 6962 consistency proofs from each head's size to the latest head's. */
  consistency?: Array<{ fromSize: number; toSize: number; path: string[] }>;
}

/** One line of inclusion-proofs.ndjson (range exports), against the latest head. */
export interface ProofLine {
  index: number;
  auditPath: string[];
}

export interface ExportOptions {
  out: string;
  /** ISO instants; the range is [since, until). */
  since?: string;
  until?: string;
  format?: 'native' | 'fhir';
  /** Native only: 'full' (default) or 'range' (range entries with inclusion proofs). */
  scope?: 'full' | 'range';
  clock?: () => Date;
}

export class ExportError extends Error {
  override name = 'ExportError';
}

export interface GatewayPublicKeyFile {
  algorithm: 'Ed25519';
  keys: Array<{ keyId: string; publicKey: string; fingerprintSha256: string }>;
}

function indexRange(log: AuditLog, end: number, since?: string, until?: string) {
  const first = since
    ? ((log.db.prepare('SELECT MIN(idx) FROM audit_entries WHERE time >= ? AND idx < ?').pluck().get(since, end) as number | null) ?? end)
    : 0;
  const last = until
    ? (log.db.prepare('SELECT MAX(idx) FROM audit_entries WHERE time < ? AND idx < ?').pluck().get(until, end) as number | null)
    : end - 1;
  const endIndex = last === null ? first : Math.max(first, last + 1);
  return { firstIndex: first, endIndex };
}

function* pages(log: AuditLog, from: number, to: number) {
  const q = log.db.prepare('SELECT idx, entry FROM audit_entries WHERE idx >= ? AND idx < ? ORDER BY idx LIMIT 5000');
  let i = from;
  while (i < to) {
    const rows = q.all(i, to) as Array<{ idx: number; entry: string }>;
    if (rows.length === 0) return;
    yield rows;
    i = rows[rows.length - 1].idx + 1;
  }
}

export function exportLog(log: AuditLog, opts: ExportOptions): ExportManifest {
  const clock = opts.clock ?? (() => new Date());
  for (const [name, v] of [['since', opts.since], ['until', opts.until]] as const) {
    if (v !== undefined && Number.isNaN(Date.parse(v))) throw new ExportError(`--${name} must be an ISO-8601 date or instant`);
  }
  const since = opts.since ? new Date(opts.since).toISOString() : undefined;
  const until = opts.until ? new Date(opts.until).toISOString() : undefined;
  mkdirSync(opts.out, { recursive: true, mode: 0o700 });
  const kind = opts.format ?? 'native';

  if (kind === 'fhir') {
    const size = log.size();
    const { firstIndex, endIndex } = indexRange(log, size, since, until);
    const fd = openSync(join(opts.out, EXPORT_FILES.fhir), 'w', 0o600);
    try {
      for (const rows of pages(log, firstIndex, endIndex)) {
        writeSync(fd, rows.map((r) => JSON.stringify(toFhirAuditEvent(r.idx, r.entry, JSON.parse(r.entry) as AuditEntry))).join('\n') + '\n');
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

  const latest = log.latestHead();
  if (!latest) throw new ExportError('no signed tree head yet: the running gateway signs one every minute and on shutdown');
  const treeSize = latest.treeSize;
  const heads: SignedTreeHead[] = log.heads().filter((h) => h.treeSize <= treeSize);
  const usedKeys = new Set(heads.map((h) => h.keyId));
  const keyFile: GatewayPublicKeyFile = {
    algorithm: 'Ed25519',
    keys: log
      .keys()
      .filter((k) => usedKeys.has(k.keyId))
      .map((k) => ({ keyId: k.keyId, publicKey: Buffer.from(k.publicKey).toString('base64'), fingerprintSha256: keyFingerprint(k.publicKey) })),
  };
  const { firstIndex, endIndex } = indexRange(log, treeSize, since, until);
  const scope = opts.scope ?? 'full';
  // A range export carries one entry either side of the range, to show where it starts and ends.
  const from = scope === 'full' ? 0 : Math.max(0, firstIndex - 1);
  const to = scope === 'full' ? treeSize : Math.min(treeSize, endIndex + 1);
  const fd = openSync(join(opts.out, EXPORT_FILES.entries), 'w', 0o600);
  const pfd = scope === 'range' ? openSync(join(opts.out, EXPORT_FILES.proofs), 'w', 0o600) : undefined;
  try {
    for (const rows of pages(log, from, to)) {
      writeSync(fd, rows.map((r) => r.entry).join('\n') + '\n');
      if (pfd !== undefined) {
        const lines = rows.map((r) => {
          const p = log.inclusionProof(r.idx, treeSize);
          const line: ProofLine = { index: r.idx, auditPath: p.auditPath.map((h) => h.toString('hex')) };
          return JSON.stringify(line);
        });
        writeSync(pfd, lines.join('\n') + '\n');
      }
    }
  } finally {
    closeSync(fd);
    if (pfd !== undefined) closeSync(pfd);
  }
  const headsFile: TreeHeadsFile = { heads };
  if (scope === 'range') {
    headsFile.consistency = [...new Set(heads.map((h) => h.treeSize))]
      .filter((m) => m > 0 && m < treeSize)
      .map((m) => ({ fromSize: m, toSize: treeSize, path: log.consistencyProof(m, treeSize).map((h) => h.toString('hex')) }));
  }
  const manifest: ExportManifest = {
    format: 'darwaza-audit-export', v: 1, kind, scope, createdAt: clock().toISOString(), treeSize,
    range: { since, until, firstIndex, endIndex, count: endIndex - firstIndex },
    entries: { from, to },
    files: [
      EXPORT_FILES.entries,
      ...(scope === 'range' ? [EXPORT_FILES.proofs] : []),
      EXPORT_FILES.heads, EXPORT_FILES.key, EXPORT_FILES.manifest, EXPORT_FILES.readme,
    ],
  };
  writeFileSync(join(opts.out, EXPORT_FILES.heads), JSON.stringify(headsFile, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(join(opts.out, EXPORT_FILES.key), JSON.stringify(keyFile, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(join(opts.out, EXPORT_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
  writeFileSync(join(opts.out, EXPORT_FILES.readme), scope === 'range' ? README + README_RANGE : README, { mode: 0o600 });
  return manifest;
}

export const README = `darwaza audit export
====================

This folder is a complete, self-contained copy of the gateway's audit log from its first
entry up to its latest signed tree head. Nothing in it identifies a patient: patients
appear only as pseudonymous tokens (a keyed hash whose key never leaves the appliance).

Files
  entries.ndjson           one audit entry per line; line i (counting from 0) is entry i.
                           Each line is the exact canonical JSON (sorted keys, no spaces,
                           UTF-8) that was hashed. Do not reformat it.
  tree-heads.json          {"heads": [...]}: signed tree heads. Each says: the first
                           treeSize entries hash to rootHash (hex), at timestamp (ms since
                           1970), signed with Ed25519 by key keyId (signature, base64).
  gateway-public-key.json  the public key(s), base64, with a SHA-256 fingerprint (hex).
                           Compare the fingerprint with the one the hospital gave you
                           separately: trust comes from that comparison, not from this file.
  manifest.json            the time range asked for (since/until) and the entries it covers
                           (firstIndex to endIndex-1). All earlier entries are included so
                           every root can be recomputed from the start.

Verify with the tool (on any machine, nothing else needed):
  darwaza audit verify --offline THIS_FOLDER --public-key KEYFILE

Verify by hand (RFC 6962 Merkle tree, as in Certificate Transparency):
  1. Leaf hash of entry i:   SHA-256( 0x00 || bytes of line i )
  2. Node hash:              SHA-256( 0x01 || left || right )
  3. Root of n entries, MTH(n): for one entry, its leaf hash; otherwise let k be the largest
     power of two smaller than n; MTH = node hash of (MTH of entries 0..k-1, MTH of k..n-1),
     applied recursively (the empty tree's root is SHA-256 of nothing).
  4. For each head in tree-heads.json: compute MTH of the first treeSize lines and compare
     with rootHash.
  5. Check each head's signature: the signed bytes are this canonical JSON (keys sorted,
     no spaces), UTF-8:
       {"keyId":"...","rootHash":"...","timestamp":N,"treeSize":N,"type":"darwaza-audit-tree-head","v":1}
     verified with Ed25519 against the public key, e.g. libsodium
     crypto_sign_verify_detached, or OpenSSL 3: turn the raw 32-byte key into DER by
     prefixing the hex bytes 302a300506032b6570032100, then
       openssl pkeyutl -verify -pubin -inkey pub.der -keyform DER -rawin \\
               -in signed-bytes.bin -sigfile signature.bin
  6. If every head matches and is signed, no entry up to the latest head was changed,
     removed, inserted or reordered since that head was signed. If you kept a head from an
     earlier export, it must also appear (same size, same rootHash) or be matched by step 4:
     otherwise history was rewritten.
`;

export const README_RANGE = `
Range export (manifest.json "scope": "range")
---------------------------------------------
This folder holds only the entries of the range asked for, plus one entry just before and one
just after it (so you can see the range is complete at both ends): entries.ndjson line k is
entry manifest.entries.from + k. Instead of recomputing the whole tree, check each entry's
inclusion proof against the latest signed head (the one whose treeSize = manifest.treeSize):
  inclusion-proofs.ndjson  line k: {"index": i, "auditPath": [hex, ...]} for entry i, leaf side
                           first; verify as RFC 9162 section 2.1.3.2 says.
  tree-heads.json          "consistency": for each earlier head, an RFC 6962 consistency proof
                           from its size to the latest head's size (RFC 9162 section 2.1.4.2):
                           the earlier heads are prefixes of the latest one.
Consecutive indices with no gap show that no entry inside the range was left out.
`;
