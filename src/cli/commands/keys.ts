/**
 * `darwaza keys` — the gateway's keys: list (what receivers should trust), rotate the
 * signing key (with overlap), remove a retired key, show a destination's demo recipient key.
 */
import { EXIT, UsageError, parseFlags, type Command } from '../command.js';
import { KeyFileError, describeKeyFile, rotateNow, DEFAULT_OVERLAP_MS, b64 } from '../../crypto/index.js';
import { CERTS_DIR_FLAGS } from './certs.js';
import { ensureKeys, pathUsage, resolvePaths } from '../paths.js';

const USAGE = `Usage: darwaza keys <subcommand> [--certs-dir DIR | --config FILE]

Subcommands:
  list [--json]                   gateway signing keys (active, in overlap); --json prints what
                                  receivers should pin: { "trustedGatewayKeys": [{ keyId, publicKey }] }
  rotate [--overlap-days N]       new signing key, active at once; the old one stays trusted for
                                  N days (default ${DEFAULT_OVERLAP_MS / 86_400_000}), then is dropped by the next rotation
                                  and its private seed destroyed (overwritten, deleted)
  remove <keyId>                  end a retired key's overlap now: no longer trusted, its private
                                  seed destroyed; the public key stays listed for verification
  recipient <destination>         the demo recipient key of a destination (made if missing):
                                  recipientPublicKey and recipientKeyId for the config

Options:
${pathUsage('certs-dir', 'config')}

Whatever key material the config needs and is missing (signing, patient-token and
key-encryption keys, demo recipient keys) is made first and listed on stderr.
A running gateway keeps signing with the key it loaded until it restarts or gets SIGHUP.`;

export const command: Command = {
  name: 'keys',
  summary: 'gateway keys: list, rotate (with overlap), remove, recipient',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ...CERTS_DIR_FLAGS,
      json: { type: 'boolean' },
      'overlap-days': { type: 'string' },
    });
    const [sub, arg] = positionals;
    if (!sub) throw new UsageError('a subcommand is required (list, rotate, remove, recipient)');
    if (!['list', 'rotate', 'remove', 'recipient'].includes(sub)) throw new UsageError(`unknown subcommand: ${sub}`);
    let overlapMs = DEFAULT_OVERLAP_MS;
    if (values['overlap-days'] !== undefined) {
      const d = Number(values['overlap-days']);
      if (!Number.isFinite(d) || d < 0) throw new UsageError('--overlap-days: expected a number of days ≥ 0');
      overlapMs = d * 86_400_000;
    }
    try {
      const paths = resolvePaths(io, values);
      const { keys, created } = await ensureKeys(paths);
      for (const f of created) io.err(`keys: created ${f} in ${paths.certsDir()} (${describeKeyFile(f) ?? 'key file'})`);
      switch (sub) {
        case 'list': {
          const list = keys.signingKeys();
          if (values.json) {
            io.out(JSON.stringify({ trustedGatewayKeys: list.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, active: k.active })) }, null, 2));
          } else {
            for (const k of list) {
              io.out(`${k.keyId}  ${k.active ? 'active ' : 'overlap'}  ${k.publicKey}  created ${k.createdAt}${k.retiredAt ? `  retired ${k.retiredAt}` : ''}`);
            }
          }
          return EXIT.ok;
        }
        case 'rotate': {
          const { rotated, pruned } = rotateNow(keys, { overlapMs });
          io.out(`keys: new signing key ${rotated.keyId} (${rotated.publicKey}) is active`);
          for (const id of pruned) io.out(`keys: dropped ${id} (overlap over; its seed file was destroyed)`);
          io.out('  give receivers the new public key: darwaza keys list --json');
          return EXIT.ok;
        }
        case 'remove': {
          if (!arg) throw new UsageError('remove needs a key id');
          keys.removeSigningKey(arg);
          io.out(`keys: ${arg} is no longer listed as trusted; its seed file was destroyed`);
          return EXIT.ok;
        }
        case 'recipient': {
          if (!arg) throw new UsageError('recipient needs a destination name');
          const r = keys.demoRecipient(arg);
          io.out(JSON.stringify({ destination: arg, recipientPublicKey: b64(r.publicKey), recipientKeyId: r.keyId }, null, 2));
          return EXIT.ok;
        }
      }
      return EXIT.usage;
    } catch (err) {
      if (err instanceof KeyFileError) {
        io.err(`keys: ${err.message}`);
        return EXIT.failed;
      }
      throw err;
    }
  },
};
