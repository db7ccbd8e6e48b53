/**
 * `darwaza consent` — the consent registry from the command line: list, show, import.
 * Opens <data-dir>/darwaza.db. Patients are found by token (a keyed hash of their id
 * strings), so the command needs the gateway's token key: certs/token.key of the resolved
 * certs folder (made, with the rest of the key set, when missing), or --token-key-file.
 */
import { createReadStream, existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { EXIT, DEFAULT_DATA_DIR, DEFAULT_TOKEN_KEY_FILE, UsageError, parseFlags, progress, type CliIo, type Command } from '../command.js';
import { PATH_FLAGS, ensureKeys, pathUsage, resolvePaths } from '../paths.js';
import { describeKeyFile, ensureKekFile, kekSourceFromConfig, openAtRestCipher } from '../../crypto/index.js';
import { openDatabase, databaseFile, type Db } from '../../store/index.js';
import { rethrowIfDenied } from '../access.js';
import type { PayloadCipher } from '../../model/index.js';
import {
  ConsentRegistry,
  ConsentUnreadableError,
  hmacTokenizer,
  loadOrCreateTokenKey,
  type PutManyResult,
  type StoredConsentWithResource,
} from '../../consent/index.js';

export { DEFAULT_DATA_DIR, DEFAULT_TOKEN_KEY_FILE };
export const IMPORT_BATCH = 1000;

export interface ConsentCommandDeps {
  /** The gateway's tokenizer (crypto folder). Without it: HMAC-SHA256 with --token-key-file. */
  tokenize?: (id: string) => string;
  /**
   * The gateway's at-rest cipher on this database (keys in certsDir). When it gives none, the
   * default is used: certs/kek.key or DARWAZA_KEK, and with neither, certs/kek.key is made
   * (as \`darwaza init\` would). Nothing is ever stored or read in clear.
   */
  openCipher?: (db: Db, io: CliIo, certsDir: string) => PayloadCipher | undefined | Promise<PayloadCipher | undefined>;
}

async function defaultCipher(db: Db, io: CliIo, certsDir: string): Promise<PayloadCipher> {
  let fromFile = existsSync(join(certsDir, 'kek.key'));
  if (!fromFile && !io.env.DARWAZA_KEK) {
    const made = ensureKekFile(certsDir);
    if (made.created) io.err(`created key-encryption key ${made.path} (mode 0600)`);
    fromFile = true;
  }
  return openAtRestCipher(db, { kek: kekSourceFromConfig(fromFile ? 'file' : 'env', { certsDir, env: io.env }) });
}

const USAGE = `Usage: darwaza consent <subcommand> [options]

Subcommands:
  list [--patient ID]... [--limit N]
                                latest version of each consent (of these patients, if given;
                                at most N, default 1000, oldest first)
  show <id> [--history]         one consent as FHIR JSON; --history lists every version
  import FILE|-                 NDJSON (one Consent per line) or a Bundle / single Consent;
                                bad lines are reported (line and element) and skipped;
                                exits ${EXIT.badInput} if any line was refused

Options:
${pathUsage('config', 'data-dir', 'certs-dir')}
  --token-key-file FILE  patient-token key (default: token.key in the certs folder, ${DEFAULT_TOKEN_KEY_FILE};
                         made with the rest of the key set, mode 0600, when missing)
  --json                 machine-readable output (list, show --history)

A patient ID is a reference (Patient/123 or 123) or an identifier as system|value.`;

function pad(s: string, n: number): string {
  return s.length >= n ? s : s + ' '.repeat(n - s.length);
}

function line(c: StoredConsentWithResource): string {
  const scope = (c.resource.scope as { coding?: { code?: string }[] } | undefined)?.coding?.[0]?.code ?? '';
  return [pad(c.id, 38), pad(String(c.version), 4), pad(c.status, 17), pad(scope, 16), c.receivedAt].join(' ');
}

/** Consents of a Bundle (entry.request PUT Consent/<id> gives the id), or the document itself. */
function documentItems(doc: unknown, where: string): [string, unknown][] {
  const d = doc as { resourceType?: string; entry?: { resource?: unknown; request?: { method?: string; url?: string } }[] };
  if (d?.resourceType !== 'Bundle') return [[where, doc]];
  return (Array.isArray(d.entry) ? d.entry : []).map((e, i) => {
    const m = /^Consent\/([^/?]+)$/.exec(e?.request?.url ?? '');
    const r = e?.resource as Record<string, unknown> | undefined;
    const withId = m && e.request?.method === 'PUT' && r && typeof r === 'object' && r.id === undefined ? { ...r, id: m[1] } : r;
    return [`${where === 'document' ? '' : `${where} `}entry ${i + 1}`.trim(), withId];
  });
}

/**
 * Yields [where, consent-or-SyntaxError] from NDJSON (one Consent or Bundle per line) or,
 * when the first line is not a whole JSON value, from one pretty-printed document.
 */
async function* readConsents(lines: AsyncIterable<string> | Iterable<string>): AsyncGenerator<[string, unknown]> {
  let n = 0;
  let documentMode: string[] | null = null;
  let first = true;
  for await (const l of lines) {
    n++;
    if (documentMode) {
      documentMode.push(l);
      continue;
    }
    if (l.trim() === '') continue;
    const parsed = parseLine(l);
    if (first && parsed instanceof SyntaxError) {
      documentMode = [l];
      continue;
    }
    first = false;
    if (parsed instanceof SyntaxError) yield [`line ${n}`, parsed];
    else yield* documentItems(parsed, `line ${n}`);
  }
  if (documentMode) {
    const doc = parseLine(documentMode.join('\n'));
    if (doc instanceof SyntaxError) yield ['document', doc];
    else yield* documentItems(doc, 'document');
  }
}

function parseLine(l: string): unknown {
  try {
    return JSON.parse(l);
  } catch {
    return new SyntaxError('not valid JSON');
  }
}

export function makeConsentCommand(deps: ConsentCommandDeps = {}): Command {
  return {
    name: 'consent',
    summary: 'patient consents: list, show, import (NDJSON or Bundle)',
    usage: USAGE,
    async run(args, io) {
      const { values, positionals } = parseFlags(args, {
        ...PATH_FLAGS,
        'token-key-file': { type: 'string' },
        patient: { type: 'string', multiple: true },
        history: { type: 'boolean' },
        limit: { type: 'string' },
        json: { type: 'boolean' },
      });
      const [sub, ...rest] = positionals;
      if (!sub) throw new UsageError('a subcommand is required (list, show, import)');
      if (!['list', 'show', 'import'].includes(sub)) throw new UsageError(`unknown subcommand: ${sub}`);
      if (sub === 'show' && rest.length !== 1) throw new UsageError('show needs exactly one consent id');
      if (sub === 'import' && rest.length !== 1) throw new UsageError('import needs exactly one FILE (or - for stdin)');
      if (sub === 'list' && rest.length > 0) throw new UsageError('list takes no arguments (use --patient ID)');
      const limit = values.limit === undefined ? 1000 : Number(values.limit);
      if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a whole number ≥ 1');
      const importFile = sub === 'import' ? (rest[0] === '-' ? '-' : resolve(io.cwd, rest[0]!)) : undefined;
      if (importFile && importFile !== '-' && !existsSync(importFile)) {
        io.err(`consent import: ${rest[0]}: no such file`);
        return EXIT.badInput;
      }

      const paths = resolvePaths(io, values);
      let tokenize = deps.tokenize;
      if (!tokenize) {
        try {
          if (values['token-key-file']) {
            const keyFile = resolve(io.cwd, values['token-key-file']);
            const { key, created } = loadOrCreateTokenKey(keyFile, { privateOnly: false });
            if (created) io.err(`created patient-token key ${keyFile} (mode 0600)`);
            tokenize = hmacTokenizer(key);
          } else {
            const { keys, created } = await ensureKeys(paths);
            for (const f of created) io.err(`created ${describeKeyFile(f) ?? 'key file'} ${resolve(paths.certsDir(), f)} (mode 0600)`);
            tokenize = keys.tokenizer();
          }
        } catch (err) {
          rethrowIfDenied(err);
          io.err(`consent: ${(err as Error).message}`);
          return EXIT.badInput;
        }
      }
      let db: Db;
      try {
        db = openDatabase(databaseFile(paths.sqliteDataDir('consent')));
      } catch (err) {
        rethrowIfDenied(err);
        io.err(`consent: cannot open the database: ${(err as Error).message}`);
        return EXIT.runtime;
      }
      try {
        const cipher = (await deps.openCipher?.(db, io, paths.certsDir())) ?? (await defaultCipher(db, io, paths.certsDir()));
        const registry = ConsentRegistry.open(db, { tokenize, cipher });
        if (sub === 'list') {
          const found = registry.list(values.patient ? { patientIds: values.patient, limit } : { limit });
          if (values.json) io.out(JSON.stringify(found.map(({ id, version, status, receivedAt }) => ({ id, version, status, receivedAt }))));
          else {
            io.out([pad('id', 38), pad('ver', 4), pad('status', 17), pad('scope', 16), 'received'].join(' '));
            for (const c of found) io.out(line(c));
            io.out(`${found.length} consent(s)`);
          }
          if (found.unreadable > 0) {
            io.err(`${found.unreadable} consent(s) could not be read: altered, or encrypted and this command has no key to the gateway's at-rest cipher`);
            return EXIT.failed;
          }
          return EXIT.ok;
        }
        if (sub === 'show') {
          const id = rest[0]!;
          if (values.history) {
            const h = registry.history(id);
            if (h.length === 0) {
              io.err(`Consent/${id} is not known`);
              return EXIT.failed;
            }
            if (values.json) io.out(JSON.stringify(h.map((v) => v.resource), null, 2));
            else for (const v of h) io.out(`${line(v)}${v.reason ? `  (${v.reason})` : ''}`);
            return EXIT.ok;
          }
          const c = registry.get(id);
          if (!c) {
            io.err(`Consent/${id} is not known`);
            return EXIT.failed;
          }
          io.out(JSON.stringify(c.resource, null, 2));
          return EXIT.ok;
        }
        return await importConsents(registry, importFile!, io);
      } catch (err) {
        if (err instanceof ConsentUnreadableError) {
          io.err(err.message);
          return EXIT.failed;
        }
        throw err;
      } finally {
        db.close();
      }
    },
  };
}

async function importConsents(registry: ConsentRegistry, file: string, io: CliIo): Promise<number> {
  const bar = progress(io, 'consent import');
  let done = 0;
  let created = 0;
  let unchanged = 0;
  let refused = 0;
  let batch: [string, unknown][] = [];
  const flush = () => {
    const good = batch.filter(([, r]) => !(r instanceof SyntaxError));
    const results: PutManyResult[] = registry.putMany(good.map(([, r]) => r));
    let gi = 0;
    for (const [where, r] of batch) {
      if (r instanceof SyntaxError) {
        refused++;
        io.err(`${where}: not valid JSON`);
        continue;
      }
      const res = results[gi++]!;
      if (res.ok) res.unchanged ? unchanged++ : created++;
      else {
        refused++;
        io.err(`${where}: ${res.error.element}: ${res.error.problem}`);
      }
    }
    done += batch.length;
    batch = [];
    bar.update(done);
  };
  try {
    const lines =
      file === '-'
        ? (await io.readStdin()).split(/\r?\n/)
        : createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Infinity });
    for await (const item of readConsents(lines)) {
      batch.push(item);
      if (batch.length >= IMPORT_BATCH) flush();
    }
    if (batch.length) flush();
  } catch (err) {
    bar.done();
    io.err(`consent import: ${(err as Error).message}`);
    return EXIT.runtime;
  }
  bar.done();
  io.out(`imported ${created} consent version(s); ${unchanged} unchanged; ${refused} refused`);
  return refused > 0 ? EXIT.badInput : EXIT.ok;
}

export const command: Command = makeConsentCommand();
