/**
 * `darwaza policy <lint|test|explain|sign|verify|keygen>` — tooling for the people who
 * write, review and sign policies (regulators, privacy officers, hospital IT).
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { classify } from '../../classify/index.js';
import { isPurposeOfUse, type FhirResource } from '../../model/index.js';
import {
  POLICY_FILE,
  decide,
  explain,
  formatFinding,
  generateSigningKey,
  lintPolicyText,
  loadPolicy,
  parseSignature,
  parseSigningKey,
  runPolicyTests,
  signPack,
  verifyPack,
  type PolicyDestination,
} from '../../policy/index.js';
import { EXIT, UsageError, parseFlags, type CliIo, type Command } from '../command.js';

const USAGE = `darwaza policy <command> [options]

Commands:
  lint FILE|DIR...                 check policy files: YAML, schema, unknown fields and values,
                                   missing sources, rules that can never match or are shadowed
  test [DIR] [--coverage PCT]      run policy test files (*.test.yaml; default DIR: policies);
                                   fails on a failing case or rule coverage below PCT (default 100)
  explain --message FILE --destination NAME [--purpose P] [--source S] [--now ISO]
          [--config gateway.config.json | --destinations FILE.json] [--policy PATH] [--json]
                                   show, in plain words, how the policy decides this message
  sign --key KEYFILE FILE          sign a policy pack: the policy file and the profile files it
                                   references (writes FILE.sig, Ed25519, detached)
  verify [--trusted PUBKEY]... FILE
                                   check FILE.sig against the pack; PUBKEY is base64 or a .pub file
  keygen --out DIR                 make a policy-signing key pair (DIR/policy-signing.key, .pub);
                                   keep the .key file off the gateway and out of the repository

Exit codes: 0 ok, 1 check failed, 2 usage error, 3 bad input file.`;

const abs = (io: CliIo, p: string) => (isAbsolute(p) ? p : resolve(io.cwd, p));

class InputError extends Error {}

async function readText(io: CliIo, p: string): Promise<string> {
  try {
    return await readFile(abs(io, p), 'utf8');
  } catch (err) {
    throw new InputError(`cannot read ${p}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
}

async function policyFilesUnder(io: CliIo, p: string): Promise<string[]> {
  const full = abs(io, p);
  let s;
  try {
    s = await stat(full);
  } catch {
    throw new InputError(`${p} does not exist`);
  }
  if (!s.isDirectory()) return [p];
  const out: string[] = [];
  for (const name of (await readdir(full)).sort()) {
    const child = join(p, name);
    const cs = await stat(abs(io, child));
    if (cs.isDirectory()) out.push(...(await policyFilesUnder(io, child)));
    else if (POLICY_FILE.test(name)) out.push(child);
  }
  return out;
}

async function lint(args: string[], io: CliIo): Promise<number> {
  const { positionals } = parseFlags(args, {});
  if (!positionals.length) throw new UsageError('policy lint needs at least one file or directory');
  let errors = 0;
  let files = 0;
  for (const p of positionals) {
    for (const f of await policyFilesUnder(io, p)) {
      files++;
      const findings = lintPolicyText(await readText(io, f), f);
      for (const x of findings) io.out(formatFinding(x));
      errors += findings.length;
    }
  }
  if (!files) throw new InputError('no policy files (*.policy.yaml) found');
  io.out(errors ? `${errors} problem${errors === 1 ? '' : 's'} in ${files} file${files === 1 ? '' : 's'}` : `${files} file${files === 1 ? '' : 's'} ok`);
  return errors ? EXIT.failed : EXIT.ok;
}

async function test(args: string[], io: CliIo): Promise<number> {
  const { positionals, values } = parseFlags(args, { coverage: { type: 'string' } });
  const dir = positionals[0] ?? 'policies';
  const threshold = values.coverage === undefined ? 100 : Number(values.coverage);
  if (!Number.isFinite(threshold) || threshold < 0 || threshold > 100) throw new UsageError('--coverage takes a percentage 0–100');
  if (!existsSync(abs(io, dir))) throw new InputError(`${dir} does not exist`);
  const run = await runPolicyTests(abs(io, dir));
  if (!run.files.length) {
    io.err(`no policy test files (*.test.yaml) under ${dir}`);
    return EXIT.failed;
  }
  for (const f of run.files) {
    io.out(`# ${f.file}${f.policyId ? ` (policy ${f.policyId})` : ''}`);
    if (f.error) io.out(`not ok - ${f.error}`);
    for (const c of f.cases) {
      io.out(`${c.pass ? 'ok' : 'not ok'} - ${c.name}`);
      for (const m of c.failures) io.out(`    ${f.file}:${c.line}: ${m}`);
    }
  }
  const uncovered = [...new Set(run.files.flatMap((f) => f.uncovered))];
  io.out(`${run.passed} passed, ${run.failed} failed`);
  io.out(`rule coverage: ${run.coverage}% (threshold ${threshold}%)${uncovered.length ? `; no test exercises: ${uncovered.join(', ')}` : ''}`);
  if (run.failed) return EXIT.failed;
  if (run.coverage < threshold) {
    io.err(`rule coverage ${run.coverage}% is below ${threshold}%`);
    return EXIT.failed;
  }
  return EXIT.ok;
}

async function destinationsFrom(io: CliIo, values: { config?: string; destinations?: string }): Promise<PolicyDestination[]> {
  if (values.destinations) {
    const j = JSON.parse(await readText(io, values.destinations)) as unknown;
    if (!Array.isArray(j)) throw new InputError(`${values.destinations} must hold a JSON list of destinations`);
    return j as PolicyDestination[];
  }
  if (values.config) {
    const j = JSON.parse(await readText(io, values.config)) as { destinations?: unknown };
    if (!Array.isArray(j.destinations)) throw new InputError(`${values.config} has no "destinations" list`);
    return j.destinations as PolicyDestination[];
  }
  return [];
}

async function policyPathFrom(io: CliIo, values: { policy?: string; config?: string }): Promise<string> {
  if (values.policy) return abs(io, values.policy);
  if (values.config) {
    const j = JSON.parse(await readText(io, values.config)) as { policy?: { path?: string } };
    if (j.policy?.path) return abs(io, j.policy.path);
  }
  return abs(io, 'policies/pk');
}

async function explainCmd(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(args, {
    message: { type: 'string' },
    destination: { type: 'string' },
    purpose: { type: 'string' },
    source: { type: 'string' },
    now: { type: 'string' },
    config: { type: 'string' },
    destinations: { type: 'string' },
    policy: { type: 'string' },
    json: { type: 'boolean' },
  });
  if (!values.message || !values.destination) throw new UsageError('policy explain needs --message FILE and --destination NAME');
  const purpose = values.purpose ?? 'TREAT';
  if (!isPurposeOfUse(purpose)) throw new UsageError(`unknown purpose of use ${JSON.stringify(purpose)}`);
  const now = values.now ? new Date(values.now) : new Date();
  if (Number.isNaN(now.getTime())) throw new UsageError('--now takes an ISO-8601 time');
  let resource: FhirResource;
  try {
    resource = JSON.parse(await readText(io, values.message)) as FhirResource;
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(`${values.message} is not JSON`);
  }
  if (!resource || typeof resource.resourceType !== 'string') throw new InputError(`${values.message} is not a FHIR resource (no resourceType)`);
  const policy = await loadPolicy(await policyPathFrom(io, values));
  const destinations = await destinationsFrom(io, values);
  const destination = destinations.find((d) => d.name === values.destination);
  const decision = decide(policy, {
    destinationName: values.destination,
    destination,
    purpose,
    classification: classify(resource, { now }),
    source: values.source ?? 'lan',
    now,
  });
  io.out(values.json ? JSON.stringify(decision, null, 2) : explain(decision));
  return EXIT.ok;
}

async function sign(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, { key: { type: 'string' } });
  if (!values.key || positionals.length !== 1) throw new UsageError('policy sign needs --key KEYFILE and one policy FILE');
  let key;
  try {
    key = parseSigningKey(await readText(io, values.key));
  } catch (err) {
    throw new InputError(`bad signing key ${values.key}: ${(err as Error).message}`);
  }
  const file = positionals[0];
  const text = await readText(io, file);
  const findings = lintPolicyText(text, file).filter((f) => f.severity === 'error');
  if (findings.length) {
    for (const f of findings) io.err(formatFinding(f));
    io.err('refusing to sign a policy with errors');
    return EXIT.failed;
  }
  const { pack } = await loadPolicy(abs(io, file));
  if (pack!.missingProfiles.length) {
    io.err(`refusing to sign a pack whose profile files are missing: ${pack!.missingProfiles.join(', ')}`);
    return EXIT.failed;
  }
  const sig = await signPack(pack!, key);
  await writeFile(abs(io, `${file}.sig`), JSON.stringify(sig, null, 2) + '\n');
  io.out(`signed the pack of ${file} (${pack!.files.length} files, pack sha256 ${sig.sha256}) with key ${sig.keyId}; wrote ${file}.sig`);
  return EXIT.ok;
}

async function verify(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseFlags(args, { trusted: { type: 'string', multiple: true } });
  if (positionals.length !== 1) throw new UsageError('policy verify needs one policy FILE');
  const file = positionals[0];
  const trusted: string[] = [];
  for (const t of values.trusted ?? []) {
    trusted.push(existsSync(abs(io, t)) ? (await readText(io, t)).trim() : t);
  }
  if (!existsSync(abs(io, file))) throw new InputError(`cannot read ${file}`);
  if (!existsSync(abs(io, `${file}.sig`))) {
    io.out(`${file} is not signed (no ${file}.sig)`);
    return EXIT.failed;
  }
  let sig;
  try {
    sig = parseSignature(await readText(io, `${file}.sig`));
  } catch (err) {
    io.out(`${file}.sig is not a valid signature file: ${(err as Error).message}`);
    return EXIT.failed;
  }
  const { pack } = await loadPolicy(abs(io, file));
  const result = await verifyPack(pack!, sig, trusted);
  if (!result.ok) {
    io.out(`NOT VERIFIED: ${file}: ${result.reason}`);
    return EXIT.failed;
  }
  io.out(
    `verified: ${file} (pack sha256 ${result.sha256}) signed by key ${result.keyId}${result.trusted ? ' (a trusted key)' : ' — not checked against a trusted key: pass --trusted PUBKEY'}`,
  );
  return EXIT.ok;
}

async function keygen(args: string[], io: CliIo): Promise<number> {
  const { values } = parseFlags(args, { out: { type: 'string' } }, false);
  if (!values.out) throw new UsageError('policy keygen needs --out DIR');
  const dir = abs(io, values.out);
  const keyFile = join(dir, 'policy-signing.key');
  const pubFile = join(dir, 'policy-signing.pub');
  if (existsSync(keyFile)) {
    io.err(`${keyFile} already exists; not overwriting a signing key`);
    return EXIT.failed;
  }
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const key = await generateSigningKey();
  await writeFile(keyFile, JSON.stringify(key, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
  await writeFile(pubFile, key.publicKey + '\n', { mode: 0o644 });
  io.out(`wrote ${keyFile} (secret, mode 0600) and ${pubFile}`);
  io.out(`key id ${key.keyId}; public key ${key.publicKey}`);
  io.out('Put the public key in the gateway config under policy.trustedSigners. Keep the .key file off the gateway.');
  return EXIT.ok;
}

const SUBCOMMANDS: Record<string, (args: string[], io: CliIo) => Promise<number>> = {
  lint,
  test,
  explain: explainCmd,
  sign,
  verify,
  keygen,
};

export const command: Command = {
  name: 'policy',
  summary: 'lint, test, explain, sign and verify policy files',
  usage: USAGE,
  async run(args, io) {
    const [sub, ...rest] = args;
    if (!sub || sub === '--help' || sub === '-h' || sub === 'help') {
      io.out(USAGE);
      return sub ? EXIT.ok : EXIT.usage;
    }
    const fn = SUBCOMMANDS[sub];
    if (!fn) {
      io.err(`unknown policy command "${sub}"`);
      io.err(USAGE);
      return EXIT.usage;
    }
    if (rest.includes('--help') || rest.includes('-h')) {
      io.out(USAGE);
      return EXIT.ok;
    }
    try {
      return await fn(rest, io);
    } catch (err) {
      if (err instanceof UsageError) {
        io.err(err.message);
        io.err(USAGE);
        return EXIT.usage;
      }
      const e = err as Error;
      if (err instanceof InputError || err instanceof SyntaxError || e.name === 'PolicyError') {
        io.err(e.message);
        return EXIT.badInput;
      }
      io.err(`policy ${sub} failed: ${e.message}`);
      return EXIT.runtime;
    }
  },
};
