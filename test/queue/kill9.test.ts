import t from 'tap';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { openDatabase } from '../../src/store/index.js';
import { SqliteQueueStore } from '../../src/queue/index.js';

// A child process accepts messages as fast as it can and prints each id once its
// accept() resolved. We SIGKILL it mid-stream: every id it printed must be in the file.
const CHILD = (queueUrl: string, storeUrl: string) => `
import { SqliteQueueStore } from ${JSON.stringify(queueUrl)};
import { openDatabase } from ${JSON.stringify(storeUrl)};
const db = openDatabase(process.argv[2]);
const store = SqliteQueueStore.open(db, { quotaBytes: 1e12, minFreeDiskBytes: 0 });
let n = 0;
const one = async () => {
  const id = 'k' + (n++);
  await store.accept({
    message: { id, receivedAt: new Date().toISOString(), source: 'ehr', purpose: 'TREAT', format: 'fhir', outcomes: '[]' },
    items: [{ messageId: id, destination: 'nhs-pk', lane: 'normal', payload: Buffer.alloc(2048, 7), contentType: 'application/json',
              cipherScope: 'd:1', patientTokens: ['t'], context: '{}' }],
    audit: [],
  });
  process.stdout.write(id + '\\n');
};
const worker = async () => { for (;;) await one(); };
for (let i = 0; i < 32; i++) void worker();
`;

t.test('every message acknowledged before a SIGKILL is in the file afterwards', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'darwaza.db');
  const script = join(dir, 'child.mts');
  const root = process.cwd();
  writeFileSync(
    script,
    CHILD(pathToFileURL(join(root, 'src/queue/index.ts')).href, pathToFileURL(join(root, 'src/store/index.ts')).href),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script, file], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const acked: string[] = [];
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`child produced ${acked.length} acks; stderr: ${stderr.slice(0, 500)}`)), 15_000);
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      acked.push(...lines);
      if (acked.length >= 2_000 && !child.killed) {
        child.kill('SIGKILL');
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal === 'SIGKILL') resolve();
      else reject(new Error(`child exited ${code}: ${stderr.slice(0, 500)}`));
    });
  });
  t.ok(acked.length >= 2_000, `${acked.length} acknowledged before the kill`);
  const db = openDatabase(file);
  t.teardown(() => db.close());
  const store = SqliteQueueStore.open(db, { quotaBytes: 1e12, minFreeDiskBytes: 0 });
  const found = await Promise.all(acked.map((id) => store.getMessage(id)));
  const missing = acked.filter((_, i) => !found[i]);
  t.same(missing, [], 'no acknowledged message is missing');
  const total = (db.prepare('SELECT COUNT(*) AS n FROM queue_items').get() as { n: number }).n;
  t.ok(total >= acked.length, `${total} rows stored (some committed but not yet printed)`);
});
