/**
 * `darwaza audit resolve TOKEN… [--candidates FILE]` — for breach notification: the tokens of
 * a breach report turned into the identifiers the hospital needs, on the appliance only, with
 * one audit entry per lookup. --candidates reads identifiers (one per line: a CNIC, system|value
 * or a local id) from the hospital's patient index and matches their tokens.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { userInfo } from 'node:os';
import { EXIT, UsageError, type CliIo } from '../command.js';
import type { CliPaths } from '../paths.js';
import { openDatabase, databaseFile } from '../../store/index.js';
import { AuditLog, isPatientToken, sourcesSeen } from '../../audit/index.js';
import { createTokenizer, getSodium, kekSourceFromConfig, openAtRestCipher, readTokenKey, TOKEN_KEY_FILE } from '../../crypto/index.js';
import { ConsentRegistry, DEFAULT_SOURCE, tokensForIds } from '../../consent/index.js';
import { resolveTokens } from '../../ops/index.js';
import { patientIdForms } from './audit.js';

export async function auditResolve(tokens: string[], values: { candidates?: string; actor?: string; json?: boolean; source?: string }, io: CliIo, paths: CliPaths): Promise<number> {
  if (tokens.length === 0) throw new UsageError('resolve needs one or more patient tokens (from the breach report)');
  // Checked before anything is opened: an identifier typed here by mistake must not reach the log.
  const notTokens = tokens.filter((x) => !isPatientToken(x));
  if (notTokens.length) {
    io.err(`darwaza audit: resolve takes patient tokens as the breach report prints them (base64url, 16 or more characters); ${notTokens.length} argument${notTokens.length === 1 ? ' is' : 's are'} not one`);
    return EXIT.badInput;
  }
  const file = databaseFile(paths.sqliteDataDir('audit resolve'));
  if (!existsSync(file)) {
    io.err(`darwaza audit: no database at ${file}`);
    return EXIT.badInput;
  }
  await getSodium();
  const tokenize = createTokenizer(readTokenKey(join(paths.certsDir(), TOKEN_KEY_FILE), { privateOnly: false }));
  const db = openDatabase(file);
  try {
    const cipher = await openAtRestCipher(db, { kek: kekSourceFromConfig(paths.config()?.keys.kek ?? 'file', { certsDir: paths.certsDir(), env: io.env }) });
    const consents = ConsentRegistry.open(db, { tokenize, cipher });
    // A local id means something only at the system that sent it: every source the log has seen is tried.
    const sources = values.source
      ? [values.source]
      : [DEFAULT_SOURCE, ...sourcesSeen(db)];
    const candidates = values.candidates
      ? readFileSync(resolve(io.cwd, values.candidates), 'utf8')
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter(Boolean)
          .map((value) => {
            const forms = patientIdForms(value);
            return { value, tokens: [...new Set([...forms.map(tokenize), ...sources.flatMap((s) => tokensForIds(forms, tokenize, s))])] };
          })
      : undefined;
    const r = resolveTokens({ tokens, consents, candidates, audit: AuditLog.open(db), actor: values.actor ?? `cli:${userInfo().username}` });
    consents.close();
    cipher.close();
    if (values.json) io.out(JSON.stringify(r, null, 2));
    else for (const x of r) io.out(`${x.token}  ${x.identifiers.length ? x.identifiers.map((i) => `${i.value} (${i.from})`).join(', ') : 'not resolved: no consent or candidate has this token'}`);
    io.err(`${r.length} lookup${r.length === 1 ? '' : 's'} recorded in the audit log. These identifiers are PHI: keep them on the appliance or in the hospital's own systems.`);
    return EXIT.ok;
  } finally {
    db.close();
  }
}
