import t from 'tap';
import { spawn, spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { createLogger } from '../../src/log/index.js';
import { CLI, prepareDir, runCli, startGatewayProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/net.js';

function sink() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _e, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  return { lines, destination };
}

t.test('pretty lines for a terminal, JSON otherwise; redaction holds in both', async (t) => {
  const json = sink();
  createLogger({ destination: json.destination }).info({ item: { patient: 'Carolee' }, destination: 'national-telemed' }, 'queued');
  await new Promise((r) => setImmediate(r));
  const entry = JSON.parse(json.lines[0]!);
  t.match(entry, { level: 30, msg: 'queued', item: { patient: '[redacted]' }, destination: 'national-telemed' });

  const pretty = sink();
  createLogger({ destination: pretty.destination, pretty: true }).warn({ item: { patient: 'Carolee' }, destination: 'national-telemed' }, 'queued');
  await new Promise((r) => setImmediate(r));
  const text = pretty.lines.join('\n');
  t.throws(() => JSON.parse(pretty.lines[0]!), 'not JSON');
  t.match(text, /WARN.*\(darwaza\): queued/);
  t.match(text, /"patient": "\[redacted\]"/);
  t.notMatch(text, /Carolee/);
});

t.test('the real gateway: JSON lines on a pipe, --log-level honoured, a bad level refused', async (t) => {
  const dir = t.testdir();
  await prepareDir(dir);
  const bad = runCli(['start', '--config', join(dir, 'gateway.config.json'), '--log-level', 'loud'], { cwd: dir });
  t.equal(bad.code, 2);
  t.match(bad.stderr, /--log-level: one of trace, debug, info, warn, error, fatal, silent/);

  // The helper's environment asks for warn; the flag wins.
  const gw = await startGatewayProcess(dir, { extraArgs: ['--log-level', 'info'] });
  const started = await waitFor(() => gw.output().split('\n').find((l) => l.includes('"darwaza started"')), { what: 'the start line' });
  await gw.kill();
  t.match(JSON.parse(started), { level: 30, name: 'darwaza', msg: 'darwaza started' });
  const logLines = gw.output().split('\n').filter((l) => l.startsWith('{'));
  t.ok(logLines.length > 1);
  for (const l of logLines) t.doesNotThrow(() => JSON.parse(l), 'every log line is JSON');
});

const hasScript = spawnSync('script', ['--version']).status === 0;
t.test('the real gateway on a terminal writes readable lines', { skip: hasScript ? false : 'util-linux script(1) is not installed: no pseudo-terminal to run the gateway on' }, async (t) => {
  const dir = t.testdir();
  await prepareDir(dir);
  const cmd = `${process.execPath} ${CLI} start --config ${join(dir, 'gateway.config.json')} --no-simulator --log-level info`;
  const p = spawn('script', ['-qfec', cmd, '/dev/null'], { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const exited = new Promise((r) => p.once('exit', r));
  try {
    await waitFor(() => /darwaza started/.test(out), { timeoutMs: 60_000, what: 'the start line' });
  } finally {
    // Ctrl-C on the terminal: SIGINT to the gateway, a clean stop (closing the terminal would be SIGHUP, a reload).
    p.stdin.write('\x03');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
  }
  t.match(out, /stopping|darwaza stopped/, 'it stopped on Ctrl-C');
  t.match(out, /INFO.*\(darwaza\): darwaza started/);
  t.notMatch(out, /"msg":"darwaza started"/, 'not JSON');
});
