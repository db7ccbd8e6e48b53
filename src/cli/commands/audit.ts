/**
 * `darwaza audit` — the regulator's and the privacy officer's tools over the audit log:
 * verify (the database or an export folder, offline), export (verifiable or FHIR),
 * prove (inclusion proof for one entry), disclosures (per patient, on the appliance),
 * breach-report (72-hour notification). Output never contains PHI: patients appear
 * only as pseudonymous tokens.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXIT, DEFAULT_DATA_DIR, DEFAULT_TOKEN_KEY_FILE, UsageError, parseFlags, type CliIo, type Command } from '../command.js';
import { openDatabase, databaseFile, DB_FILE_NAME, type Db } from '../../store/index.js';
import { getSodium } from '../../crypto/sodium.js';
import { KeyFileError, TOKEN_KEY_FILE, createTokenizer, readTokenKey } from '../../crypto/index.js';
import { PATH_FLAGS, pathUsage, resolvePaths, type CliPaths } from '../paths.js';
import { auditResolve } from './audit-resolve.js';
import { cnicOf } from '../../classify/index.js';
import { DEFAULT_SOURCE, tokensForIds } from '../../consent/index.js';
import {
  AuditLog,
  breachReport,
  breachSummary,
  postgresBreachReport,
  postgresBreakGlassReport,
  postgresDisclosures,
  postgresSourcesSeen,
  breakGlassReport,
  breakGlassSummary,
  checkTreeHeadShape,
  DEFAULT_BREACH_EVENTS,
  disclosures,
  EXPORT_FILES,
  exportLog,
  exportPostgresLog,
  keyFingerprint,
  PostgresAuditLog,
  verifyPostgresLog,
  sourcesSeen,
  verifyLog,
  type SignedTreeHead,
  type InclusionProof,
  type VerifyOptions,
} from '../../audit/index.js';

export { DEFAULT_DATA_DIR, DB_FILE_NAME, DEFAULT_TOKEN_KEY_FILE };

const USAGE = `Usage: darwaza audit <subcommand> [options]

Subcommands:
  verify [--from STH.json] [--to STH.json|SIZE] [--public-key FILE] [--workers N]
                         recompute the log from its entries and check every signed tree head
  verify --store postgres://… [--public-key FILE]  (also for export, with --store)
                         the audit log shared by gateways on PostgreSQL
  verify --offline DIR [--public-key FILE] [--workers N]
                         check an export folder on any machine (reads nothing outside DIR);
                         --workers: threads for the entry checks (default one per core from
                         50,000 entries; 0 on a busy appliance)
  export --out DIR [--since T] [--until T] [--format native|fhir] [--range-only]
                         native: a self-contained verifiable folder (all entries up to the latest
                         signed head; the range is marked in manifest.json); --range-only: just
                         the range with inclusion and consistency proofs; fhir: AuditEvent.ndjson
  prove <entry-index|message-id>
                         inclusion proof (JSON) against the latest signed tree head
  disclosures --patient ID [--source SYSTEM] [--token-key-file FILE] [--json]
                         every audited event about one patient (run on the appliance)
  breach-report --since T --until T [--destination D] [--events delivered,queued] [--out FILE] [--json]
                         patients (tokens), data classes and destinations in a window
  resolve TOKEN… [--candidates FILE] [--json]
                         breach notification: the breach report's patient tokens turned into the
                         identifiers the hospital holds (consents on the appliance, or FILE: one
                         identifier per line from the patient index); one audit entry per lookup
  break-glass [--since T] [--until T] [--json]
                         every break-glass (ETREAT) use for review: who, when, how often,
                         the reasons, and which messages went to which destinations

Options:
${pathUsage('config', 'data-dir', 'certs-dir')}
  --public-key FILE      the pinned gateway key: gateway-public-key.json or a base64 Ed25519 key.
                         Without it the key recorded beside the log is used and only its
                         fingerprint proves anything: compare it with the published one.
  --token-key-file FILE  32-byte base64 patient-token key (default: token.key in the certs folder,
                         ${DEFAULT_TOKEN_KEY_FILE})
Exit: 0 verified/ok, 1 verification failed, 2 usage, 3 bad input file, 4 runtime error.`;

function dbFile(io: CliIo, dataDir: string): string {
  return databaseFile(resolve(io.cwd, dataDir ?? DEFAULT_DATA_DIR));
}

class BadInput extends Error {
  override name = 'BadInputError';
}

/** gateway-public-key.json ({ keys: [{ publicKey }] }), { publicKey }, or bare base64. */
export function parsePublicKeys(text: string, what: string): Uint8Array[] {
  const trimmed = text.trim();
  let raw: string[];
  if (trimmed.startsWith('{')) {
    let parsed: { keys?: Array<{ publicKey?: unknown }>; publicKey?: unknown };
    try {
      parsed = JSON.parse(trimmed);
    } catch {
      throw new BadInput(`${what} is not valid JSON`);
    }
    raw = (parsed.keys ?? [parsed]).map((k) => k.publicKey).filter((k): k is string => typeof k === 'string');
  } else {
    raw = [trimmed];
  }
  const keys = raw.map((k) => new Uint8Array(Buffer.from(k, 'base64')));
  if (keys.length === 0 || keys.some((k) => k.length !== 32)) throw new BadInput(`${what}: expected Ed25519 public key(s), 32 bytes base64`);
  return keys;
}

function readHead(file: string, flag: string, io: CliIo): SignedTreeHead {
  const path = resolve(io.cwd, file);
  if (!existsSync(path)) throw new BadInput(`${flag}: no file ${file}`);
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    throw new BadInput(`${flag}: ${file} is not valid JSON`);
  }
  // accept a bare head, `audit prove` output ({ signedHead }), or tree-heads.json (the last head)
  const v = value as { signedHead?: unknown; heads?: unknown[] };
  const head = v.signedHead ?? (Array.isArray(v.heads) ? v.heads[v.heads.length - 1] : value);
  const bad = checkTreeHeadShape(head);
  if (bad) throw new BadInput(`${flag}: ${bad}`);
  return head as SignedTreeHead;
}

function openLog(io: CliIo, dataDir: string): { db: Db; log: AuditLog } {
  const file = dbFile(io, dataDir);
  if (!existsSync(file)) throw new BadInput(`no gateway database at ${file} (use --data-dir)`);
  const db = openDatabase(file);
  return { db, log: AuditLog.open(db) };
}

function isoFlag(value: string | undefined, flag: string, required: boolean): string | undefined {
  if (value === undefined) {
    if (required) throw new UsageError(`${flag} is required`);
    return undefined;
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`${flag}: "${value}" is not an ISO-8601 date or instant`);
  return new Date(ms).toISOString();
}

const SUBS = ['verify', 'export', 'prove', 'disclosures', 'breach-report', 'break-glass', 'resolve'] as const;

export const command: Command = {
  name: 'audit',
  summary: 'verify, export and prove the audit log; disclosures per patient; breach and break-glass reports',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ...PATH_FLAGS,
      'public-key': { type: 'string' },
      from: { type: 'string' },
      to: { type: 'string' },
      offline: { type: 'string' },
      workers: { type: 'string' },
      out: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      format: { type: 'string' },
      patient: { type: 'string' },
      'token-key-file': { type: 'string' },
      source: { type: 'string' },
      destination: { type: 'string' },
      events: { type: 'string' },
      json: { type: 'boolean' },
      'range-only': { type: 'boolean' },
      candidates: { type: 'string' },
      actor: { type: 'string' },
      store: { type: 'string' },
    });
    const [sub, ...rest] = positionals;
    if (!sub) throw new UsageError(`a subcommand is required (${SUBS.join(', ')})`);
    if (!(SUBS as readonly string[]).includes(sub)) throw new UsageError(`unknown subcommand: ${sub}`);
    const paths = resolvePaths(io, values);
    // The shared log on PostgreSQL: --store URL, or the store a pair's config names (the URL stays off the command line).
    if (values.store === undefined && values['data-dir'] === undefined && values.offline === undefined) {
      const configured = paths.config()?.store;
      if (configured?.kind === 'postgres') values.store = configured.url;
    }
    try {
      switch (sub as (typeof SUBS)[number]) {
        case 'verify':
          return await verify(values, io, paths);
        case 'export': {
          if (!values.out) throw new UsageError('export needs --out DIR');
          const format = values.format ?? 'native';
          if (format !== 'native' && format !== 'fhir') throw new UsageError('--format must be native or fhir');
          const since = isoFlag(values.since, '--since', false);
          const until = isoFlag(values.until, '--until', false);
          if (values['range-only'] && format !== 'native') throw new UsageError('--range-only applies to the native format');
          const scope = values['range-only'] ? 'range' : 'full';
          const pgLog = await openPgLog(values.store);
          const opened = pgLog ? undefined : openLog(io, paths.dataDir());
          try {
            const exportOpts = { out: resolve(io.cwd, values.out), since, until, format, scope } as const;
            const m = pgLog ? await exportPostgresLog(pgLog, exportOpts) : exportLog(opened!.log, exportOpts);
            io.out(
              format === 'fhir'
                ? `Exported ${m.range.count} AuditEvent resources to ${values.out}/${EXPORT_FILES.fhir}`
                : scope === 'range'
                  ? `Exported entries ${m.entries.from}–${m.entries.to - 1} (range: indices ${m.range.firstIndex}–${m.range.endIndex - 1}, ${m.range.count} entries, plus boundaries) with inclusion proofs against the signed head at size ${m.treeSize} to ${values.out}`
                  : `Exported ${m.treeSize} entries (range: indices ${m.range.firstIndex}–${m.range.endIndex - 1}, ${m.range.count} entries) and their signed heads to ${values.out}`,
            );
            return EXIT.ok;
          } finally {
            opened?.db.close();
            await pgLog?.close();
          }
        }
        case 'prove': {
          const pgLog = await openPgLog(values.store);
          const opened = pgLog ? undefined : openLog(io, paths.dataDir());
          try {
            await pgLog?.build(); // the subtrees a proof reads (the leader builds them behind the appends)
            return await prove(rest[0], pgLog ?? opened!.log, io);
          } finally {
            opened?.db.close();
            await pgLog?.close();
          }
        }
        case 'disclosures':
          return await patientDisclosures(values, io, paths);
        case 'breach-report': {
          const since = isoFlag(values.since, '--since', true)!;
          const until = isoFlag(values.until, '--until', true)!;
          const events = values.events ? values.events.split(',').map((s) => s.trim()).filter(Boolean) : [...DEFAULT_BREACH_EVENTS];
          const pgLog = await openPgLog(values.store);
          const db = pgLog ? undefined : openLog(io, paths.dataDir()).db;
          try {
            const opts = { since, until, destination: values.destination, events };
            const r = pgLog ? await postgresBreachReport(pgLog, opts) : breachReport(db!, opts);
            if (values.out) writeFileSync(resolve(io.cwd, values.out), JSON.stringify(r, null, 2) + '\n', { mode: 0o600 });
            if (values.json) io.out(JSON.stringify(r, null, 2));
            else io.out(breachSummary(r) + (values.out ? `\nJSON written to ${values.out}` : ''));
            return EXIT.ok;
          } finally {
            db?.close();
            await pgLog?.close();
          }
        }
        case 'resolve':
          return await auditResolve(rest, values, io, paths);
        case 'break-glass': {
          const since = isoFlag(values.since, '--since', false);
          const until = isoFlag(values.until, '--until', false);
          const pgLog = await openPgLog(values.store);
          const db = pgLog ? undefined : openLog(io, paths.dataDir()).db;
          try {
            const r = pgLog ? await postgresBreakGlassReport(pgLog, { since, until }) : breakGlassReport(db!, { since, until });
            io.out(values.json ? JSON.stringify(r, null, 2) : breakGlassSummary(r));
            return EXIT.ok;
          } finally {
            db?.close();
            await pgLog?.close();
          }
        }
      }
    } catch (err) {
      if (err instanceof BadInput) {
        io.err(`darwaza audit: ${err.message}`);
        return EXIT.badInput;
      }
      throw err;
    }
    return EXIT.usage;
  },
};

/** The shared log on PostgreSQL (--store URL), read only: its tables are not created here. */
async function openPgLog(url: string | boolean | undefined): Promise<PostgresAuditLog | undefined> {
  if (url === undefined || url === false) return undefined;
  if (typeof url !== 'string' || !/^postgres(ql)?:\/\//.test(url)) throw new UsageError('--store must be a postgres:// URL');
  return PostgresAuditLog.open({ url, nodeId: 'cli', migrate: false, poolMax: 2 });
}

async function verify(values: Record<string, string | boolean | undefined>, io: CliIo, paths: CliPaths): Promise<number> {
  const opts: VerifyOptions = {};
  if (typeof values.from === 'string') opts.from = readHead(values.from, '--from', io);
  if (typeof values.to === 'string') opts.to = /^\d+$/.test(values.to) ? Number(values.to) : readHead(values.to, '--to', io);
  if (typeof values.workers === 'string') {
    if (!/^\d{1,2}$/.test(values.workers)) throw new BadInput(`--workers: a number of threads (0-99), not "${values.workers}"`);
    opts.workers = Number(values.workers);
  }
  const offline = typeof values.offline === 'string' ? resolve(io.cwd, values.offline) : undefined;
  let keys: Uint8Array[];
  let pinned = true;
  const keyFlag = values['public-key'];
  if (typeof keyFlag === 'string') {
    const path = resolve(io.cwd, keyFlag);
    if (!existsSync(path)) throw new BadInput(`--public-key: no file ${keyFlag}`);
    keys = parsePublicKeys(readFileSync(path, 'utf8'), '--public-key');
  } else if (offline) {
    pinned = false;
    const path = join(offline, EXPORT_FILES.key);
    if (!existsSync(path)) throw new BadInput(`the folder has no ${EXPORT_FILES.key}; give --public-key`);
    keys = parsePublicKeys(readFileSync(path, 'utf8'), EXPORT_FILES.key);
  } else if (typeof values.store === 'string') {
    pinned = false;
    const log = (await openPgLog(values.store))!;
    try {
      keys = (await log.keys()).map((k) => k.publicKey);
    } finally {
      await log.close();
    }
    if (keys.length === 0) throw new BadInput('no signing key is recorded beside the log (no head signed yet); give --public-key');
  } else {
    pinned = false;
    const { db, log } = openLog(io, paths.dataDir());
    keys = log.keys().map((k) => k.publicKey);
    db.close();
    if (keys.length === 0) throw new BadInput('no signing key is recorded beside the log (no head signed yet); give --public-key');
  }
  let result;
  if (offline) {
    result = await verifyLog(offline, keys, opts);
  } else if (typeof values.store === 'string') {
    const log = (await openPgLog(values.store))!;
    try {
      result = await verifyPostgresLog(log, keys, opts);
    } finally {
      await log.close();
    }
  } else {
    const { db } = openLog(io, paths.dataDir());
    try {
      // One read snapshot for the whole pass, while the gateway keeps appending (WAL).
      db.exec('BEGIN');
      result = await verifyLog(db, keys, opts);
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.close();
    }
  }
  const prints = keys.map((k) => keyFingerprint(k)).join(', ');
  if (!pinned) io.err(`warning: key not pinned (no --public-key); trusting the key shipped with the log. Its SHA-256 fingerprint is ${prints}: compare it with the one the hospital published.`);
  if (values.json) {
    io.out(JSON.stringify({ ...result, keyFingerprints: keys.map((k) => keyFingerprint(k)), pinned }, null, 2));
    return result.ok ? EXIT.ok : EXIT.failed;
  }
  if (result.ok) {
    const h = result.latest;
    io.out(
      result.scope === 'range'
        ? `VERIFIED: ${result.entriesChecked} entries are included in the signed head at size ${result.size}; ${result.heads} signed tree head${result.heads === 1 ? '' : 's'}, all consistent.`
        : `VERIFIED: ${result.size} entries, ${result.heads} signed tree head${result.heads === 1 ? '' : 's'}, all consistent.`,
    );
    if (h) io.out(`Latest signed head: ${h.treeSize} entries at ${new Date(h.timestamp).toISOString()}, root ${h.rootHash}.`);
    if (result.unsignedTail > 0) io.out(`${result.unsignedTail} newer entries are not yet under a signed head (checked against their stored hashes only).`);
    io.out(`Signing key fingerprint (SHA-256): ${prints}`);
    return EXIT.ok;
  }
  io.out(`FAILED: ${result.reason}`);
  if (result.entry) {
    io.out(`First bad entry: index ${result.entry.index}${result.entry.event ? `, event ${result.entry.event}` : ''}${result.entry.time ? `, time ${result.entry.time}` : ''}`);
  } else if (result.range) {
    io.out(`The altered entry lies in indices ${result.range[0]}–${result.range[1]}.`);
  }
  return EXIT.failed;
}

/** What `prove` reads of a log: the SQLite log answers at once, the shared log asynchronously. */
interface ProvableLog {
  latestHead(): SignedTreeHead | null | Promise<SignedTreeHead | null>;
  findByMessageId(id: string): Array<{ index: number }> | Promise<Array<{ index: number }>>;
  inclusionProof(index: number, treeSize: number): InclusionProof | Promise<InclusionProof>;
  entry(index: number): { text: string } | null | Promise<{ text: string } | null>;
}

/** An inclusion proof (or one per entry of a message) under the latest signed head, as JSON. */
async function prove(target: string | undefined, log: ProvableLog, io: CliIo): Promise<number> {
  if (!target) throw new UsageError('prove needs an entry index or a message id');
  const head = await log.latestHead();
  if (!head) {
    io.err('darwaza audit: no signed tree head yet; the running gateway signs one every minute');
    return EXIT.failed;
  }
  const indices = /^\d+$/.test(target) ? [Number(target)] : (await log.findByMessageId(target)).map((e) => e.index);
  if (indices.length === 0) {
    io.err(`darwaza audit: no entry for message id ${target}`);
    return EXIT.failed;
  }
  const proofs = [];
  for (const index of indices) {
    if (index >= head.treeSize) {
      io.err(`darwaza audit: entry ${index} is not yet under a signed tree head (latest covers ${head.treeSize}); try again after the next head`);
      return EXIT.failed;
    }
    const p = await log.inclusionProof(index, head.treeSize);
    proofs.push({
      leafIndex: p.leafIndex,
      treeSize: p.treeSize,
      leafHash: p.leafHash.toString('hex'),
      entry: (await log.entry(index))!.text,
      signedHead: head,
      auditPath: p.auditPath.map((h) => h.toString('hex')),
    });
  }
  io.out(JSON.stringify(/^\d+$/.test(target) ? proofs[0] : proofs, null, 2));
  return EXIT.ok;
}

/**
 * The forms in which the classifier records an id a privacy officer knows: as given
 * (`Patient/<id>`, `system|value`), `cnic|#####-#######-#` for a CNIC, `Patient/<id>` for a bare id.
 */
export function patientIdForms(id: string): string[] {
  const v = id.trim();
  const forms = [v];
  const cnic = cnicOf({ system: 'cnic', value: v.replace(/^cnic\|/i, '') });
  if (cnic) forms.push(`cnic|${cnic}`);
  if (!v.includes('|') && !v.includes('/')) forms.push(`Patient/${v}`);
  return [...new Set(forms)];
}

async function patientDisclosures(values: Record<string, string | boolean | undefined>, io: CliIo, paths: CliPaths): Promise<number> {
  if (typeof values.patient !== 'string' || values.patient === '') throw new UsageError('disclosures needs --patient ID');
  const flag = values['token-key-file'] as string | undefined;
  const keyFile = flag ? resolve(io.cwd, flag) : join(paths.certsDir(), TOKEN_KEY_FILE);
  if (!existsSync(keyFile)) throw new BadInput(`no token key file at ${keyFile} (use --token-key-file)`);
  let key: Uint8Array;
  try {
    key = readTokenKey(keyFile, { privateOnly: false });
  } catch (err) {
    if (err instanceof KeyFileError) throw new BadInput(err.message);
    throw err;
  }
  await getSodium();
  const tokenize = createTokenizer(key);
  const pgLog = await openPgLog(values.store);
  const db = pgLog ? undefined : openLog(io, paths.dataDir()).db;
  try {
    // A bare local id (Patient/123) means something only at the system that sent it: tokens are
    // namespaced by source. --source names it; otherwise every source the log has seen is tried.
    const sources =
      typeof values.source === 'string' && values.source !== ''
        ? [values.source]
        : [DEFAULT_SOURCE, ...(pgLog ? await postgresSourcesSeen(pgLog) : sourcesSeen(db!))];
    const forms = patientIdForms(values.patient);
    const tokens = [...new Set([forms.map(tokenize), ...sources.map((s) => tokensForIds(forms, tokenize, s))].flat())];
    const token = tokens[0]!;
    const rows = pgLog ? await postgresDisclosures(pgLog, tokens) : disclosures(db!, tokens);
    if (values.json) {
      io.out(JSON.stringify({ patientToken: token, entries: rows }, null, 2));
      return EXIT.ok;
    }
    const disclosed = rows.filter((r) => r.disclosed);
    io.out(`Patient token ${token}: ${rows.length} audited events, ${disclosed.length} disclosures (data delivered).`);
    for (const r of rows) {
      io.out(
        [
          `${r.time}  ${r.event.padEnd(17)}`,
          r.destination ? `to ${r.destination}` : '',
          r.purpose ? `purpose ${r.purpose}` : '',
          r.dataClasses?.length ? `data ${r.dataClasses.join(',')}` : '',
          r.consentId ? `consent ${r.consentId}${r.consentVersion ? ` v${r.consentVersion}` : ''}` : 'no consent recorded',
          r.policySha256 ? `policy ${r.policySha256.slice(0, 12)}…` : '',
          r.decision ? `decision ${r.decision}` : '',
          `(entry ${r.index})`,
        ]
          .filter(Boolean)
          .join('  '),
      );
    }
    return EXIT.ok;
  } finally {
    db?.close();
    await pgLog?.close();
  }
}
