/**
 * `darwaza link` — how the uplink to each destination is doing.
 *   status   asks the running gateway (admin GET /status) for RTT, goodput, retry rate,
 *            breaker state, the oldest waiting message's age and bytes waiting.
 *   test D   probes destination D from this machine: address, reachability, TLS, pin,
 *            recipient key, throughput; says in plain words what is wrong.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, UsageError, parseFlags, type CliIo, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths } from '../paths.js';
import { probeDestination, type LinkStatus, type ProbeStep } from '../../egress/index.js';
import { checkSpkiPin } from '../../pki/index.js';
import { resolveRecipient } from '../../crypto/index.js';
import type { Destination } from '../../model/index.js';

const USAGE = `Usage: darwaza link status [--admin URL] [--token TOKEN] [--json] [--config FILE]
       darwaza link test DESTINATION [--config FILE] [--certs-dir DIR] [--json]

  status   per destination: round-trip time, goodput, retry rate, breaker state, the age of
           the oldest message waiting and the bytes waiting (asks the running gateway)
  test     probes one destination from this machine and says what is wrong, in plain words:
           address, reachability, TLS, SPKI pin, recipient key, throughput (an unsigned
           probe the receiver refuses; nothing is delivered)

Options:
  --admin URL            the gateway's admin listener (default: the config's listen.admin)
  --token TOKEN          an API token with status.read (default: $DARWAZA_TOKEN; loopback needs none
                         when access.loopback grants it)
  --json                 machine-readable output
${pathUsage('config', 'certs-dir')}`;

const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
const human = (bytes: number) => (bytes >= 1 << 20 ? `${(bytes / (1 << 20)).toFixed(1)} MiB` : bytes >= 1024 ? `${(bytes / 1024).toFixed(1)} KiB` : `${bytes} B`);
const age = (s: number | null) => (s === null ? '-' : s >= 86_400 ? `${(s / 86_400).toFixed(1)} d` : s >= 3600 ? `${(s / 3600).toFixed(1)} h` : s >= 60 ? `${Math.round(s / 60)} min` : `${s} s`);

export function formatLinks(links: LinkStatus[]): string[] {
  const head = [pad('destination', 22), pad('rtt', 8), pad('goodput', 12), pad('retries', 8), pad('breaker', 10), pad('oldest', 9), pad('waiting', 18)].join(' ');
  return [
    head,
    ...links.map((l) =>
      [
        pad(l.destination, 22),
        pad(l.rttMs === null ? '-' : `${l.rttMs} ms`, 8),
        pad(`${human(l.goodputBytesPerSec)}/s`, 12),
        pad(l.retryRate === null ? '-' : `${Math.round(l.retryRate * 100)}%`, 8),
        pad(l.breaker, 10),
        pad(age(l.oldestQueuedAgeS), 9),
        pad(`${l.messagesWaiting} (${human(l.bytesWaiting)})`, 18),
        l.lastError ? `last error: ${l.lastError}` : '',
      ]
        .join(' ')
        .trimEnd(),
    ),
  ];
}

export function formatProbe(dest: string, steps: ProbeStep[]): string[] {
  const mark = { ok: 'ok     ', problem: 'PROBLEM', skipped: 'skipped', note: 'note   ' } as const;
  const problems = steps.filter((s) => s.verdict === 'problem');
  return [
    `link test ${dest}`,
    ...steps.map((s) => `  ${mark[s.verdict]}  ${pad(s.check, 14)} ${s.says}`),
    problems.length ? `${problems.length} problem${problems.length > 1 ? 's' : ''}: ${problems.map((p) => p.check).join(', ')}` : 'no problems found',
  ];
}

async function status(io: CliIo, values: Record<string, string | boolean | undefined>): Promise<number> {
  const paths = resolvePaths(io, { config: values.config as string | undefined });
  let admin = values.admin as string | undefined;
  if (!admin) {
    const c = paths.config();
    const hp = c?.listen.admin ?? { host: '127.0.0.1', port: 9090 };
    admin = `http://${hp.host.includes(':') ? `[${hp.host}]` : hp.host}:${hp.port}`;
  }
  const token = (values.token as string | undefined) ?? io.env.DARWAZA_TOKEN;
  let body: { links?: LinkStatus[] };
  try {
    const res = await fetch(new URL('/status', admin), { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(10_000) });
    if (res.status === 401 || res.status === 403) {
      io.err(`darwaza link status: the gateway refused (HTTP ${res.status}): pass --token with a token that may read status`);
      return EXIT.failed;
    }
    if (!res.ok) {
      io.err(`darwaza link status: the gateway answered HTTP ${res.status}`);
      return EXIT.failed;
    }
    body = (await res.json()) as { links?: LinkStatus[] };
  } catch (err) {
    io.err(`darwaza link status: cannot reach the gateway's admin listener at ${admin} (${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name}); is it running?`);
    return EXIT.runtime;
  }
  const links = body.links ?? [];
  if (values.json) io.out(JSON.stringify(links, null, 2));
  else for (const line of formatLinks(links)) io.out(line);
  return EXIT.ok;
}

async function test(io: CliIo, name: string | undefined, values: Record<string, string | boolean | undefined>): Promise<number> {
  if (!name) throw new UsageError('link test: name a destination');
  const paths = resolvePaths(io, { config: values.config as string | undefined, 'certs-dir': values['certs-dir'] as string | undefined });
  const config = paths.config();
  if (!config) throw new UsageError('link test: no gateway configuration (--config FILE)');
  const d = config.destinations.find((x) => x.name === name);
  if (!d) {
    io.err(`darwaza link test: no destination is named "${name}" (known: ${config.destinations.map((x) => x.name).join(', ') || 'none'})`);
    return EXIT.badInput;
  }
  const steps = await probeDestination(d, {
    checkPin: (dd, cert) => checkSpkiPin(dd, cert),
    checkRecipient: (dd: Destination) => {
      if (dd.recipientPublicKey) {
        try {
          return { ok: true, says: `envelopes are sealed to recipient key ${resolveRecipient(dd).keyId}` };
        } catch (err) {
          return { ok: false, says: `the configured recipient key is unusable: ${(err as Error).message}` };
        }
      }
      const demo = join(paths.certsDir(), `recipient-${dd.name}.key`);
      return existsSync(demo)
        ? { ok: true, says: 'no recipientPublicKey configured: envelopes are sealed to the demo simulator key (fine for a demo, not for a real service)' }
        : { ok: false, says: 'no recipient key: configure recipientPublicKey with the service\'s published X25519 key, or sealed data for it is refused' };
    },
  });
  if (values.json) io.out(JSON.stringify(steps, null, 2));
  else for (const line of formatProbe(name, steps)) io.out(line);
  return steps.some((s) => s.verdict === 'problem') ? EXIT.failed : EXIT.ok;
}

export const command: Command = {
  name: 'link',
  summary: 'uplink health per destination (status) and a plain-words probe of one (test)',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ...PATH_FLAGS,
      admin: { type: 'string' },
      token: { type: 'string' },
      json: { type: 'boolean' },
    });
    const [sub, dest, ...rest] = positionals;
    if (rest.length) throw new UsageError(`unexpected arguments: ${rest.join(' ')}`);
    if (sub === 'status') return status(io, values);
    if (sub === 'test') return test(io, dest, values);
    throw new UsageError(sub ? `unknown subcommand: ${sub}` : 'name a subcommand: status or test');
  },
};
