/**
 * `darwaza envelope` — open, verify or make envelopes by hand (docs/envelope.md):
 * for upstream teams testing their receiver, and for operators checking what left.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { EXIT, UsageError, parseFlags, type CliIo, type Command } from '../command.js';
import {
  KeyFileError,
  createReceiver,
  fromB64,
  keyIdOf,
  sealEnvelope,
  serializeEnvelope,
  type PublicKeyRef,
} from '../../crypto/index.js';
import { CERTS_DIR_FLAGS } from './certs.js';
import { ensureKeys, pathUsage, resolvePaths } from '../paths.js';

const USAGE = `Usage: darwaza envelope <subcommand> [options] FILE|-

Subcommands:
  open --key RECIPIENT.key [--trust T]... [--out FILE] FILE
                   verify the signature, decrypt, write the payload to stdout (or --out);
                   the metadata goes to stderr as JSON
  verify [--trust T]... FILE
                   check the signature only (no key needed); prints the metadata
  seal --destination NAME [--recipient PUB] [--clear] [--id ID] [--purpose P] FILE
                   make a signed envelope with this gateway's key (for testing receivers);
                   --recipient: base64 X25519 key or a .pub file (default: the demo key)

Trust (--trust, repeatable): a base64 Ed25519 public key, a file holding one, or the JSON
printed by "darwaza keys list --json". Without --trust, the keys in the certs folder are trusted.

Options:
${pathUsage('certs-dir', 'config')}
Exit codes: 0 opened/verified, 1 refused (reason on stderr), 2 usage, 3 unreadable input.`;

function readInput(io: CliIo, file: string): Promise<string> | string {
  if (file === '-') return io.readStdin();
  try {
    return readFileSync(resolve(io.cwd, file), 'utf8');
  } catch {
    throw new InputError(`${file}: cannot read it`);
  }
}

class InputError extends Error {}

function parseTrust(io: CliIo, value: string): PublicKeyRef[] {
  let text = value;
  const path = resolve(io.cwd, value);
  if (existsSync(path)) text = readFileSync(path, 'utf8').trim();
  if (text.startsWith('{')) {
    try {
      const j = JSON.parse(text) as { trustedGatewayKeys?: Array<{ keyId?: string; publicKey: string }> };
      return (j.trustedGatewayKeys ?? []).map((k) => {
        const pk = fromB64(k.publicKey, '--trust publicKey', 32);
        return { keyId: k.keyId ?? keyIdOf(pk), publicKey: pk };
      });
    } catch (err) {
      throw new InputError(`--trust ${value}: ${(err as Error).message}`);
    }
  }
  try {
    const pk = fromB64(text, '--trust', 32);
    return [{ keyId: keyIdOf(pk), publicKey: pk }];
  } catch {
    throw new InputError(`--trust ${value}: expected a base64 Ed25519 key, a file with one, or "keys list --json" output`);
  }
}

export const command: Command = {
  name: 'envelope',
  summary: 'open, verify or seal envelopes by hand',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ...CERTS_DIR_FLAGS,
      key: { type: 'string' },
      trust: { type: 'string', multiple: true },
      out: { type: 'string' },
      destination: { type: 'string' },
      recipient: { type: 'string' },
      clear: { type: 'boolean' },
      id: { type: 'string' },
      purpose: { type: 'string' },
      'policy-sha256': { type: 'string' },
    });
    const [sub, file, ...extra] = positionals;
    if (!sub) throw new UsageError('a subcommand is required (open, verify, seal)');
    if (!['open', 'verify', 'seal'].includes(sub)) throw new UsageError(`unknown subcommand: ${sub}`);
    if (!file) throw new UsageError('a FILE (or - for stdin) is required');
    if (extra.length) throw new UsageError(`unexpected argument: ${extra[0]}`);
    try {
      if (sub === 'seal') {
        if (!values.destination) throw new UsageError('seal needs --destination NAME');
        const { keys } = await ensureKeys(resolvePaths(io, values));
        const payload = await readInput(io, file);
        let recipient;
        if (!values.clear) {
          if (values.recipient) {
            const p = resolve(io.cwd, values.recipient);
            const pk = fromB64(existsSync(p) ? readFileSync(p, 'utf8').trim() : values.recipient, '--recipient', 32);
            recipient = { keyId: keyIdOf(pk), publicKey: pk };
          } else recipient = keys.demoRecipient(values.destination);
        }
        const env = sealEnvelope({
          meta: {
            id: values.id ?? randomUUID(),
            source: 'darwaza-cli',
            destination: values.destination,
            purpose: values.purpose ?? 'TREAT',
            policySha256: values['policy-sha256'] ?? '0'.repeat(64),
            created: new Date().toISOString(),
          },
          payload,
          recipient,
          signer: keys.signer(),
          seal: !values.clear,
        });
        io.out(serializeEnvelope(env));
        return EXIT.ok;
      }
      if (sub === 'open' && !values.key) throw new UsageError('open needs --key RECIPIENT.key');
      let trusted: PublicKeyRef[];
      if (values.trust?.length) trusted = values.trust.flatMap((v) => parseTrust(io, v));
      else trusted = (await ensureKeys(resolvePaths(io, values))).keys.trustedGatewayKeys();
      const recipientKeys = [];
      if (values.key) {
        const p = resolve(io.cwd, values.key);
        let text: string;
        try {
          text = readFileSync(p, 'utf8').trim();
        } catch {
          throw new InputError(`--key ${values.key}: cannot read it`);
        }
        recipientKeys.push({ secretKey: fromB64(text, '--key', 32) });
      }
      const receiver = await createReceiver({ recipientKeys, trustedGatewayKeys: trusted });
      const body = await readInput(io, file);
      if (sub === 'verify') {
        // Verify only: a clear receiver without recipient keys reports 422 for sealed
        // envelopes only after the signature passed — that counts as verified here.
        const r = receiver.open(body);
        if (r.ok || r.status === 422) {
          const env = JSON.parse(body);
          io.out(JSON.stringify({ verified: true, signerKeyId: env.kid, alg: env.alg, meta: env.meta }, null, 2));
          return EXIT.ok;
        }
        io.err(`envelope: refused (${r.status}): ${r.reason}`);
        return EXIT.failed;
      }
      const r = receiver.open(body);
      if (!r.ok) {
        io.err(`envelope: refused (${r.status}): ${r.reason}`);
        return EXIT.failed;
      }
      io.err(JSON.stringify({ signerKeyId: r.signerKeyId, sealed: r.sealed, meta: r.meta }));
      if (values.out) writeFileSync(resolve(io.cwd, values.out), r.payload, { mode: 0o600 });
      else io.out(Buffer.from(r.payload).toString('utf8'));
      return EXIT.ok;
    } catch (err) {
      if (err instanceof InputError || err instanceof KeyFileError || err instanceof TypeError) {
        io.err(`envelope: ${err.message}`);
        return EXIT.badInput;
      }
      throw err;
    }
  },
};
