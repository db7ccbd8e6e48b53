import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { parseHl7 } from '../../../src/hl7v2/index.js';
import { loadHl7 } from '../../fixtures/hl7v2/load.js';
import { sendOnce } from '../../fixtures/hl7v2/mllp-client.js';

const script = fileURLToPath(new URL('../../fixtures/hl7v2/mllp-child.ts', import.meta.url));

function startChild(db: string): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, db], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`child did not start: ${err}`)), 20_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /PORT (\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]) });
      }
    });
    child.stderr!.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`child exited ${code}: ${err}`));
    });
  });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

t.test('an acknowledged message survives kill -9, and its retransmit after restart gets the same ACK and no second row', async (t) => {
  const db = join(t.testdir(), 'gateway.db');
  const text = loadHl7('oru-r01-lab-a.hl7');

  const first = await startChild(db);
  t.teardown(() => void first.child.kill('SIGKILL'));
  const [ack] = await sendOnce(first.port, text);
  t.equal(parseHl7(ack).segment('MSA')!.value(1), 'AA');
  await kill9(first.child);

  const rows = () => {
    const d = new Database(db, { readonly: true });
    try {
      return d.prepare('SELECT count(*) FROM hl7test_messages').pluck().get() as number;
    } finally {
      d.close();
    }
  };
  t.equal(rows(), 1, 'the message is in the database after SIGKILL');

  const second = await startChild(db);
  t.teardown(() => void second.child.kill('SIGKILL'));
  const [again] = await sendOnce(second.port, text);
  t.equal(again, ack, 'the same ACK, byte for byte, from the durable idempotency record');
  await kill9(second.child);
  t.equal(rows(), 1, 'no duplicate row');
});
