import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { captureIo } from '../helpers/cli.js';
import { UsageError } from '../../src/cli/command.js';
import { command as queueCommand, makeQueueCommand } from '../../src/cli/commands/queue.js';
import { openDatabase } from '../../src/store/index.js';
import { SqliteQueueStore } from '../../src/queue/index.js';
import type { AuditEvent } from '../../src/model/index.js';

const io = (cwd: string) => captureIo({ cwd });

async function seed(dataDir: string) {
  const db = openDatabase(join(dataDir, 'darwaza.db'));
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e9, minFreeDiskBytes: 0 });
  for (const id of ['m1', 'm2', 'm3']) {
    await store.accept({
      message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
      items: [
        {
          messageId: id,
          destination: 'nhs-pk',
          lane: 'normal',
          payload: Buffer.from('{"secret":"PATIENT NAME"}'),
          contentType: 'application/json',
          cipherScope: 'd:1',
          patientTokens: ['t'],
          context: '{}',
        },
      ],
      audit: [],
    });
  }
  const [a, b] = await store.claim('nhs-pk', 2);
  await store.markDead(a!.id, 'HTTP 400 (permanent)', 400);
  await store.markDelivered([b!.id], { status: 200 });
  await store.close();
  db.close();
}

t.test('queue stats, list, inspect, retry and purge work on the gateway database and never print payloads', async (t) => {
  const dir = t.testdir();
  await seed(join(dir, 'data'));
  const audited: AuditEvent[] = [];
  const cmd = makeQueueCommand({ openAudit: () => ({ append: (e) => void audited.push(...e) }) });

  let c = io(dir);
  t.equal(await cmd.run(['stats'], c.io), 0);
  const stats = c.out.join('\n');
  t.match(stats, /nhs-pk\s+dead\s+1/);
  t.match(stats, /nhs-pk\s+delivered\s+1/);
  t.match(stats, /nhs-pk\s+queued\s+1/);

  c = io(dir);
  t.equal(await cmd.run(['list', '--state', 'dead', '--json'], c.io), 0);
  const rows = JSON.parse(c.out[0]!) as { messageId: string; lastError: string }[];
  t.same(rows.map((r) => [r.messageId, r.lastError]), [['m1', 'HTTP 400 (permanent)']]);

  c = io(dir);
  t.equal(await cmd.run(['inspect', 'm2', '--data-dir', 'data'], c.io), 0);
  t.match(JSON.parse(c.out.join('\n')), { id: 'm2', destinations: [{ state: 'delivered', lastStatus: 200 }] });
  t.notMatch(c.out.join('\n'), /PATIENT/, 'no payload printed');

  c = io(dir);
  t.equal(await cmd.run(['inspect', 'nope'], c.io), 1);

  c = io(dir);
  t.equal(await cmd.run(['retry', 'm1'], c.io), 0);
  t.same(c.out, ['re-queued 1 dead letter']);

  c = io(dir);
  await t.rejects(cmd.run(['purge', '--state', 'delivered'], c.io), UsageError, 'purge needs --yes');
  t.equal(await cmd.run(['purge', '--state', 'delivered', '--yes'], c.io), 0);
  t.same(c.out, ['purged 1 delivered row']);
  t.ok(audited.some((e) => e.event === 'admin-action' && e.messageId === 'm1'));
  t.ok(audited.some((e) => e.event === 'purged' && e.messageId === 'm2'));
});

t.test('queue refuses bad flags and a missing database clearly', async (t) => {
  const dir = t.testdir();
  const c = io(dir);
  t.equal(await queueCommand.run(['stats', '--data-dir', 'nowhere'], c.io), 3);
  t.match(c.err[0], /no database at .*nowhere/);
  await t.rejects(queueCommand.run([], c.io), /subcommand is required/);
  await t.rejects(queueCommand.run(['frobnicate'], c.io), /unknown subcommand: frobnicate/);
  await t.rejects(queueCommand.run(['list', '--state', 'lost'], c.io), /--state: "lost"/);
  await t.rejects(queueCommand.run(['stats', '--config', 'x.json'], c.io), /x\.json: the config file does not exist/);
});

t.test('upstream-sim prints its URL, serves, and stops on SIGTERM', async (t) => {
  const script = `
    import { command } from ${JSON.stringify(new URL('../../src/cli/commands/upstream-sim.ts', import.meta.url).href)};
    const code = await command.run(process.argv.slice(2), {
      out: (l) => console.log(l), err: (l) => console.error(l), isTTY: false, cwd: process.cwd(), env: process.env,
      readStdin: async () => '' });
    process.exitCode = code;`;
  const file = join(t.testdir(), 'run.mts');
  (await import('node:fs')).writeFileSync(file, script);
  const child = spawn(process.execPath, ['--import', 'tsx', file, '--listen', '127.0.0.1:0', '--fail-rate', '0'], {
    cwd: process.cwd(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => reject(new Error('no start line')), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) {
        clearTimeout(timer);
        resolve(buf.split('\n')[0]!);
      }
    });
  });
  t.match(line, /^upstream-sim listening on http:\/\/127\.0\.0\.1:\d+$/);
  const url = line.split(' ').at(-1)!;
  const r = await fetch(`${url}/x`, { method: 'POST', headers: { 'idempotency-key': 'a', 'content-type': 'application/json' }, body: '{}' });
  t.equal(r.status, 200);
  t.same(await (await fetch(`${url}/_sim/received`)).json(), { count: 1, ids: ['a'] });
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 0);
});
