import t from 'tap';
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { generateSigningKey, loadPolicy, signPack, watchPolicy, type CompiledPolicy, type SigningKey } from '../../src/policy/index.js';

const PK = readFileSync('policies/pk/pk.policy.yaml', 'utf8');
const v2 = PK.replace('version: "2026.11.1"', 'version: "2026.11.2"');

/** Sign the pack of a policy file (the policy and its profile files) as `darwaza policy sign` does. */
async function signFile(file: string, key: SigningKey) {
  const { pack } = await loadPolicy(file);
  writeFileSync(`${file}.sig`, JSON.stringify(await signPack(pack!, key)));
}

t.test('reload switches to a good new policy and keeps the last good one after a bad file', async (t) => {
  const dir = t.testdir({ 'pk.policy.yaml': PK });
  const file = join(dir, 'pk.policy.yaml');
  const initial = await loadPolicy(dir);
  const seen: Array<CompiledPolicy | Error> = [];
  const w = watchPolicy(dir, { initial, sighup: false }, (x) => seen.push(x));
  t.teardown(() => w.stop());
  t.equal(await w.reload(), initial, 'same bytes: no change');
  t.equal(seen.length, 0);
  writeFileSync(file, PK.replace('status: draft', 'colour: red\n    status: draft'));
  t.equal((await w.reload())?.sha256, initial.sha256, 'a broken file keeps the last good policy');
  t.ok(seen[0] instanceof Error);
  t.match((seen[0] as Error).message, /unknown field "colour"/);
  writeFileSync(file, v2);
  const next = await w.reload();
  t.equal(next?.version, '2026.11.2');
  t.equal(w.current()?.version, '2026.11.2');
  t.equal((seen[1] as CompiledPolicy).version, '2026.11.2');
});

t.test('with signatures required, an unsigned new file is refused and the signed one stays', async (t) => {
  const key = await generateSigningKey();
  const dir = t.testdir({ 'pk.policy.yaml': PK });
  const file = join(dir, 'pk.policy.yaml');
  await signFile(file, key);
  const opts = { requireSigned: true, trustedSigners: [key.publicKey] };
  const initial = await loadPolicy(dir, opts);
  const seen: Array<CompiledPolicy | Error> = [];
  const w = watchPolicy(dir, { ...opts, initial, sighup: false }, (x) => seen.push(x));
  t.teardown(() => w.stop());
  writeFileSync(file, v2); // the old .sig no longer matches
  await w.reload();
  t.equal(w.current()?.version, '2026.11.1');
  t.match((seen[0] as Error).message, /changed after it was signed/);
  await signFile(file, key);
  await w.reload();
  t.equal(w.current()?.version, '2026.11.2');
  t.equal(w.current()?.signedBy, key.keyId);
});

t.test('a file replaced on disk (write + rename) is picked up by the watcher on its own', async (t) => {
  const dir = t.testdir({ 'pk.policy.yaml': PK });
  const initial = await loadPolicy(dir);
  let resolveChange: (p: CompiledPolicy) => void;
  const changed = new Promise<CompiledPolicy>((r) => (resolveChange = r));
  const w = watchPolicy(dir, { initial, sighup: false, debounceMs: 20 }, (x) => {
    if (!(x instanceof Error)) resolveChange(x);
  });
  t.teardown(() => w.stop());
  await new Promise((r) => setTimeout(r, 50));
  writeFileSync(join(dir, 'tmp.yaml.new'), v2);
  renameSync(join(dir, 'tmp.yaml.new'), join(dir, 'pk.policy.yaml'));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 5000)));
  const got = await Promise.race([changed, timeout]);
  clearTimeout(timer);
  t.not(got, 'timeout', 'the change was seen within 5 s');
  t.equal((got as CompiledPolicy).version, '2026.11.2');
});

t.test('SIGHUP reloads', async (t) => {
  const dir = t.testdir({ 'pk.policy.yaml': PK });
  const initial = await loadPolicy(dir);
  let resolveChange: (p: CompiledPolicy) => void;
  const changed = new Promise<CompiledPolicy>((r) => (resolveChange = r));
  // A long debounce keeps the file watcher out of the way: only SIGHUP can deliver within the test.
  const w = watchPolicy(dir, { initial, debounceMs: 60_000 }, (x) => {
    if (!(x instanceof Error)) resolveChange(x);
  });
  t.teardown(() => w.stop());
  writeFileSync(join(dir, 'pk.policy.yaml'), v2);
  process.kill(process.pid, 'SIGHUP');
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 5000)));
  const got = await Promise.race([changed, timeout]);
  clearTimeout(timer);
  t.equal((got as CompiledPolicy).version, '2026.11.2');
});

t.test('without an initial policy the watcher loads one at once', async (t) => {
  const dir = t.testdir({ 'pk.policy.yaml': PK });
  let resolveChange: (p: CompiledPolicy | Error) => void;
  const first = new Promise<CompiledPolicy | Error>((r) => (resolveChange = r));
  const w = watchPolicy(dir, { sighup: false }, (x) => resolveChange(x));
  t.teardown(() => w.stop());
  const got = await first;
  t.notOk(got instanceof Error);
  t.equal(w.current()?.id, 'pk-default');
});
