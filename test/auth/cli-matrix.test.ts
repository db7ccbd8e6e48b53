/**
 * The CLI matrix: every CLI action (src/cli CLI_ACCESS) run by the single binary as the
 * appliance's owner and as another operating-system user (`nobody`), against a real
 * appliance folder made by `init` and a gateway that ran on it. Appliance commands must
 * work for the owner and be refused to the other user with exit code 5 and the folder
 * named; commands on files given must work for anyone holding the files. `link status`
 * asks the admin API, where the token's roles decide. docs/security.md carries the table.
 *
 * Needs root (to run a child as another user) and the single binary (CI builds both);
 * skipped with that note otherwise.
 */
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_ACCESS, cliMatrixMarkdown } from '../../src/cli/access.js';
import { commands } from '../../src/cli/registry.js';
import { REPO, prepareDir, startGatewayProcess } from '../helpers/processes.js';
import { freePort } from '../helpers/net.js';
import { consentFor, observation, patientFor } from '../../bench/fixtures.js';

const BUILT = join(REPO, 'dist/darwaza');
const NOBODY = { uid: 65534, gid: 65534 };
const isRoot = process.getuid?.() === 0;
const built = (() => {
  try {
    readFileSync(BUILT, { flag: 'r' }).subarray(0, 1);
    return true;
  } catch {
    return false;
  }
})();

t.test('docs/security.md carries the CLI matrix, and every command has a row', async (t) => {
  const doc = readFileSync(join(REPO, 'docs/security.md'), 'utf8');
  const m = /<!-- cli-matrix:start -->\n([\s\S]*?)\n<!-- cli-matrix:end -->/.exec(doc);
  t.ok(m, 'docs/security.md has the cli-matrix markers');
  t.equal(m?.[1], cliMatrixMarkdown(), 'paste this table between the markers:\n' + cliMatrixMarkdown());
  for (const c of commands) t.ok(CLI_ACCESS.some((r) => r.command === c.name || r.command.startsWith(c.name + ' ')), `darwaza ${c.name} has a row`);
  t.equal(new Set(CLI_ACCESS.map((r) => r.command)).size, CLI_ACCESS.length, 'no command listed twice');
});

/** One world-traversable temp folder holding a copy of the binary and an empty appliance folder. */
function workspace(t: Test, name: string) {
  const root = mkdtempSync(join(tmpdir(), `dz-${name}-`));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  chmodSync(root, 0o755);
  const bin = join(root, 'darwaza');
  copyFileSync(BUILT, bin);
  chmodSync(bin, 0o755);
  const app = join(root, 'appliance');
  mkdirSync(app, { mode: 0o755 });
  chmodSync(app, 0o755);
  return { root, bin, app };
}

const skip = !isRoot ? 'needs root, to run a command as another operating-system user' : !built ? 'dist/darwaza not built: run `npm run build:binary` (CI does)' : false;

t.test('every CLI action as the owner and as another user', { skip, timeout: 600_000 }, async (t) => {
  const { root, bin, app } = workspace(t, 'cli-matrix');
  // One scratch folder per user, owned by that user: files they hold, outputs they write.
  const mine = join(root, 'owner');
  const theirs = join(root, 'other');
  mkdirSync(mine);
  mkdirSync(theirs);
  chownSync(theirs, NOBODY.uid, NOBODY.gid);
  const cache = { owner: join(root, 'cache-owner'), other: join(root, 'cache-other') };
  mkdirSync(cache.owner);
  mkdirSync(cache.other);
  chownSync(cache.other, NOBODY.uid, NOBODY.gid);

  const { ports } = await prepareDir(app, () => {}, bin);
  // A gateway ran here: the database exists, with a consent, a message and audit entries.
  const gw = await startGatewayProcess(app, { bin, env: { DARWAZA_CACHE_DIR: cache.owner } });
  const fhir = { 'content-type': 'application/fhir+json', accept: 'application/vnd.darwaza.decision+json' };
  const lan = `http://127.0.0.1:${ports.lan}`;
  t.equal((await fetch(`${lan}/fhir/Patient`, { method: 'POST', headers: fhir, body: JSON.stringify(patientFor('p-cli')) })).status, 202);
  const consent = await fetch(`${lan}/fhir/Consent`, { method: 'POST', headers: fhir, body: JSON.stringify(consentFor('p-cli')) });
  t.equal(consent.status, 201);
  const consentId = ((await consent.json()) as { id: string }).id;
  const sent = await fetch(`${lan}/fhir/Observation`, { method: 'POST', headers: fhir, body: JSON.stringify(observation('p-cli')) });
  t.equal(sent.status, 202);
  const messageId = ((await sent.json()) as { id: string }).id;
  await gw.kill();

  const run = (who: 'owner' | 'other', args: string[], env: NodeJS.ProcessEnv = {}, timeout = 60_000) => {
    const r = spawnSync(bin, args, {
      cwd: app,
      encoding: 'utf8',
      timeout,
      env: { PATH: process.env.PATH, HOME: who === 'owner' ? mine : theirs, DARWAZA_CACHE_DIR: cache[who], DARWAZA_LOG_LEVEL: 'warn', ...env },
      ...(who === 'other' ? NOBODY : {}),
    });
    return { code: r.status, out: r.stdout ?? '', err: r.stderr ?? '', timedOut: r.signal === 'SIGTERM' };
  };

  // Files a user holds, in their own scratch folder (the owner makes them; each user gets a copy).
  const give = (name: string, text: string | Buffer) => {
    for (const [dir, owned] of [[mine, false], [theirs, true]] as const) {
      writeFileSync(join(dir, name), text);
      if (owned) chownSync(join(dir, name), NOBODY.uid, NOBODY.gid);
    }
  };
  give('message.json', JSON.stringify(observation('p-cli', 7)));
  give('consent.ndjson', JSON.stringify(consentFor('p-cli-import')) + '\n');
  give('recipient.key', readFileSync(join(app, 'certs/recipient-national-telemed.key')));
  give('passphrase', 'a long backup passphrase for the matrix test');
  const sealed = run('owner', ['envelope', 'seal', '--destination', 'national-telemed', join(mine, 'message.json')]);
  t.equal(sealed.code, 0, `envelope seal as the owner: ${sealed.err}`);
  give('envelope.json', sealed.out);
  // What a receiver pins: the gateway's public signing key (`keys list --json`).
  const gatewayKey = (JSON.parse(run('owner', ['keys', 'list', '--json']).out) as { trustedGatewayKeys: { publicKey: string }[] }).trustedGatewayKeys[0]!.publicKey;
  const simPorts = [await freePort(), await freePort()];
  const exported = run('owner', ['audit', 'export', '--out', join(mine, 'export')]);
  t.equal(exported.code, 0, `audit export: ${exported.err}`);
  cpSync(join(mine, 'export'), join(theirs, 'export'), { recursive: true });
  for (const f of readdirSync(join(theirs, 'export'))) chownSync(join(theirs, 'export', f), NOBODY.uid, NOBODY.gid);
  chownSync(join(theirs, 'export'), NOBODY.uid, NOBODY.gid);
  const backedUp = run('owner', ['backup', join(mine, 'appliance.dzbak'), '--passphrase-file', join(mine, 'passphrase')]);
  t.equal(backedUp.code, 0, `backup: ${backedUp.err}`);
  give('appliance.dzbak', readFileSync(join(mine, 'appliance.dzbak')));
  for (const dir of [mine, theirs]) {
    const policies = join(dir, 'policies');
    cpSync(join(app, 'policies'), policies, { recursive: true });
    if (dir === theirs) spawnSync('chown', ['-R', `${NOBODY.uid}:${NOBODY.gid}`, policies]);
  }

  // The invocation of each action, for a user whose scratch folder is `home`.
  // `owner` lists exit codes that mean "it ran" for this invocation (0 unless it is a check that may fail).
  // A server (upstream-sim) runs until stopped: it ran when it said it was listening within `serveMs`.
  type Case = { args: (home: string) => string[]; env?: NodeJS.ProcessEnv; ran?: number[]; serveMs?: number };
  const cases: Record<string, Case> = {
    init: { args: () => ['init'] },
    start: { args: () => ['start', '--no-simulator'], ran: [-1] }, // the owner's start is the gateway that ran above
    'upstream-sim': { args: (h) => ['upstream-sim', '--listen', `127.0.0.1:${h === mine ? simPorts[0] : simPorts[1]}`, '--data-dir', join(h, 'sim-data')], serveMs: 8_000 },
    'queue stats': { args: () => ['queue', 'stats'] },
    'queue list': { args: () => ['queue', 'list'] },
    'queue inspect': { args: () => ['queue', 'inspect', messageId] },
    'queue retry': { args: () => ['queue', 'retry', '--destination', 'national-telemed'] },
    'queue purge': { args: () => ['queue', 'purge', '--state', 'dead', '--yes'] },
    'policy lint': { args: (h) => ['policy', 'lint', join(h, 'policies')] },
    'policy test': { args: (h) => ['policy', 'test', join(h, 'policies')] },
    'policy explain': { args: (h) => ['policy', 'explain', '--message', join(h, 'message.json'), '--destination', 'national-telemed', '--policy', join(h, 'policies/pk/pk.policy.yaml'), '--config', join(app, 'gateway.config.json')] },
    'policy keygen': { args: (h) => ['policy', 'keygen', '--out', join(h, 'signing')] },
    'policy sign': { args: (h) => ['policy', 'sign', '--key', join(h, 'signing/policy-signing.key'), join(h, 'policies/pk/pk.policy.yaml')] },
    'policy verify': { args: (h) => ['policy', 'verify', '--trusted', join(h, 'signing/policy-signing.pub'), join(h, 'policies/pk/pk.policy.yaml')] },
    'consent list': { args: () => ['consent', 'list'] },
    'consent show': { args: () => ['consent', 'show', consentId] },
    'consent import': { args: (h) => ['consent', 'import', join(h, 'consent.ndjson')] },
    sanitize: { args: (h) => ['sanitize', '--ephemeral-keys', '--profile', join(h, 'policies/profiles/safe-harbor.json'), join(h, 'message.json')] },
    'audit verify': { args: () => ['audit', 'verify'] },
    'audit verify --offline': { args: (h) => ['audit', 'verify', '--offline', join(h, 'export')] },
    'audit export': { args: (h) => ['audit', 'export', '--out', join(h, 'export-2')] },
    'audit prove': { args: () => ['audit', 'prove', '0'] },
    'audit disclosures': { args: () => ['audit', 'disclosures', '--patient', 'p-cli'] },
    'audit breach-report': { args: () => ['audit', 'breach-report', '--since', '2000-01-01T00:00:00Z', '--until', '2100-01-01T00:00:00Z'] },
    'audit resolve': { args: () => ['audit', 'resolve', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] },
    'audit break-glass': { args: () => ['audit', 'break-glass'] },
    'certs init': { args: () => ['certs', 'init'] },
    'certs issue': { args: (h) => ['certs', 'issue', 'matrix-client', '--out', join(h, 'client')] },
    'certs revoke': { args: () => ['certs', 'revoke', 'matrix-client'] },
    'certs list': { args: () => ['certs', 'list'] },
    'certs csr': { args: () => ['certs', 'csr', '--cn', 'matrix-uplink'] },
    // The CA certificate exists once `certs init` (an earlier row) has run.
    'certs pin': { args: (h) => (give('ca.crt', readFileSync(join(app, 'certs/ca.crt'))), ['certs', 'pin', '--cert', join(h, 'ca.crt')]) },
    'keys list': { args: () => ['keys', 'list'] },
    'keys rotate': { args: () => ['keys', 'rotate', '--overlap-days', '1'] },
    'keys remove': { args: () => ['keys', 'remove', retiredKeyId()] },
    'keys recipient': { args: () => ['keys', 'recipient', 'national-telemed'] },
    'envelope open': { args: (h) => ['envelope', 'open', '--key', join(h, 'recipient.key'), '--trust', gatewayKey, join(h, 'envelope.json')] },
    'envelope verify': { args: (h) => ['envelope', 'verify', '--trust', gatewayKey, join(h, 'envelope.json')] },
    'envelope seal': { args: (h) => ['envelope', 'seal', '--destination', 'national-telemed', join(h, 'message.json')] },
    'tokens create': { args: () => ['tokens', 'create', '--name', 'matrix', '--roles', 'auditor'] },
    'tokens list': { args: () => ['tokens', 'list'] },
    'tokens revoke': { args: () => ['tokens', 'revoke', tokenId()] },
    'link test': { args: () => ['link', 'test', 'national-telemed'], ran: [0, 1] }, // 1: the probe found the simulator down
    doctor: { args: () => ['doctor'], ran: [0, 1] }, // 1: a check failed (the simulator is not running)
    backup: { args: (h) => ['backup', join(h, 'again.dzbak'), '--passphrase-file', join(h, 'passphrase')] },
    restore: { args: (h) => ['restore', join(h, 'appliance.dzbak'), '--data', join(h, 'restored'), '--certs-dir', join(h, 'restored-certs'), '--passphrase-file', join(h, 'passphrase')] },
    // 3: it ran, and found no PostgreSQL at the URL (nothing listens on port 1).
    'store migrate': { args: () => ['store', 'migrate', '--to', 'postgres', '--url', 'postgres://darwaza@127.0.0.1:1/darwaza'], ran: [3] },
    'service install': { args: (h) => ['service', 'install', '--unit-dir', join(h, 'units'), '--exec', bin, '--config', join(app, 'gateway.config.json')] },
    'service uninstall': { args: (h) => ['service', 'uninstall', '--unit-dir', join(h, 'units')] },
    'patient erase': { args: () => ['patient', 'erase', '--patient', 'p-nobody-here', '--reason', 'matrix test'] },
  };
  let rotatedFrom = '';
  const retiredKeyId = () => rotatedFrom;
  let madeToken = '';
  const tokenId = () => madeToken;

  const rows: string[] = [];
  for (const rule of CLI_ACCESS) {
    if (rule.guard === 'admin-api') continue; // below, with tokens
    const c = cases[rule.command];
    if (!c) {
      t.fail(`no invocation for darwaza ${rule.command}`);
      continue;
    }
    if (rule.command === 'keys rotate') rotatedFrom = /"keyId":\s*"([^"]+)"/.exec(run('owner', ['keys', 'list', '--json']).out)?.[1] ?? '';
    // The other user first, so a refusal is never explained by what the owner's run changed.
    const other = run('other', c.args(theirs), c.env, c.serveMs);
    const owner = rule.command === 'start' ? { code: -1, out: '', err: '', timedOut: false } : run('owner', c.args(mine), c.env, c.serveMs);
    if (c.serveMs) {
      for (const [who, r] of [['owner', owner], ['another user', other]] as const) t.match(r.out, /upstream-sim listening on http/, `${rule.command} as ${who} served until stopped: ${r.err.slice(0, 300)}`);
      rows.push(`${rule.command.padEnd(24)} owner=served other=served`);
      continue;
    }
    if (rule.command === 'tokens create') madeToken = /^dz_([0-9a-f]{16})_/m.exec(owner.out)?.[1] ?? '';
    const ran = c.ran ?? [0];
    if (rule.guard === 'appliance') {
      t.ok(ran.includes(owner.code ?? -2), `${rule.command} as the owner ran (exit ${owner.code}): ${owner.err.slice(0, 300)}`);
      t.equal(other.code, 5, `${rule.command} as another user is refused with exit 5: ${other.err.slice(0, 300)}`);
      t.match(other.err, /permission denied on .* belongs to root/, `${rule.command}: the refusal names the folder and its owner`);
      t.notMatch(other.err, /\n\s+at /, `${rule.command}: no stack trace`);
    } else {
      t.equal(owner.code, 0, `${rule.command} as the owner: ${owner.err.slice(0, 300)}`);
      t.equal(other.code, 0, `${rule.command} as another user holding the files: ${other.err.slice(0, 300)}`);
    }
    rows.push(`${rule.command.padEnd(24)} owner=${owner.code} other=${other.code}`);
  }
  t.comment('\n' + rows.join('\n'));
});

t.test('link status: the admin API decides by the token, not by the operating-system user', { skip, timeout: 300_000 }, async (t) => {
  const { root, bin, app } = workspace(t, 'cli-link');
  const cacheOther = join(root, 'cache-other');
  mkdirSync(cacheOther);
  chownSync(cacheOther, NOBODY.uid, NOBODY.gid);
  // No loopback grant: every caller must show a token.
  const { ports } = await prepareDir(app, (c) => void delete c.access.loopback, bin);
  const token = (roles: string) => /^dz_[0-9a-f]{16}_\S+$/m.exec(spawnSync(bin, ['tokens', 'create', '--name', `link-${roles}`, '--roles', roles], { cwd: app, encoding: 'utf8', env: { ...process.env, DARWAZA_CACHE_DIR: join(root, 'cache-owner') } }).stdout)?.[0];
  const gw = await startGatewayProcess(app, { bin, env: { DARWAZA_CACHE_DIR: join(root, 'cache-owner') } });
  t.teardown(() => gw.kill());
  const operator = token('operator');
  const sender = token('sender');
  t.ok(operator && sender, 'tokens made');
  const status = (tok?: string) =>
    spawnSync(bin, ['link', 'status', '--admin', `http://127.0.0.1:${ports.admin}`, ...(tok ? ['--token', tok] : [])], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { PATH: process.env.PATH, HOME: root, DARWAZA_CACHE_DIR: cacheOther }, ...NOBODY });
  const none = status();
  t.not(none.status, 0, 'no token: refused');
  t.match(none.stderr, /refused \(HTTP 401\)/);
  const wrong = status(sender);
  t.not(wrong.status, 0, 'a sender token: refused');
  t.match(wrong.stderr, /refused \(HTTP 403\)/);
  const right = status(operator);
  t.equal(right.status, 0, `an operator token, from another OS user: ${right.stderr}`);
  t.match(right.stdout, /national-telemed/);
});
