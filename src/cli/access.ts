/**
 * Who may run each CLI command. The command line has no roles of its own: it runs on the
 * appliance and reads the gateway's folders directly, so what guards it is the operating
 * system — data/ and certs/ are made 0700 (their files 0600) and belong to the user the
 * service runs as. A command is one of three kinds:
 *
 *   appliance   opens data/ or certs/: only their owner (or root) may run it
 *   files       works on files given on the command line: anyone who holds them
 *   admin-api   asks a running gateway's admin API: the token's roles decide (route matrix)
 *
 * Anyone else gets exit code 5 and a sentence naming the folder and its owner, never a
 * stack trace and never a misleading "no database".
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

export type CliGuard = 'appliance' | 'files' | 'admin-api';

export interface CliAccessRule {
  /** `queue list`, `audit verify --offline`: the command as a user types it. */
  readonly command: string;
  readonly guard: CliGuard;
  /** What it touches, in a few words (shown in docs/security.md). */
  readonly touches: string;
}

const appliance = (command: string, touches: string): CliAccessRule => ({ command, guard: 'appliance', touches });
const files = (command: string, touches: string): CliAccessRule => ({ command, guard: 'files', touches });

/** Every CLI action, in `darwaza help` order. test/auth/cli-matrix.test.ts runs each one as the owner and as another user. */
export const CLI_ACCESS: readonly CliAccessRule[] = [
  appliance('init', 'writes the config, data/ and certs/ (an existing appliance folder only as its owner)'),
  appliance('start', 'data/ (database), certs/ (KEK, signing and TLS keys)'),
  files('upstream-sim', 'its own listener and folder'),
  appliance('queue stats', 'data/'),
  appliance('queue list', 'data/'),
  appliance('queue inspect', 'data/'),
  appliance('queue retry', 'data/ (audited)'),
  appliance('queue purge', 'data/ (audited)'),
  files('policy lint', 'the policy files given'),
  files('policy test', 'the policy and test files given'),
  files('policy explain', 'the message, policy and destinations given'),
  files('policy keygen', 'the folder given'),
  files('policy sign', 'the pack and the signing key given (kept off the appliance)'),
  files('policy verify', 'the pack and the public key given'),
  appliance('consent list', 'data/, certs/ (KEK, token key)'),
  appliance('consent show', 'data/, certs/ (KEK)'),
  appliance('consent import', 'data/, certs/ (KEK, token key)'),
  files('sanitize', 'the sample resource and profile given'),
  appliance('audit verify', 'data/ (the live log)'),
  files('audit verify --offline', 'the export folder given'),
  appliance('audit export', 'data/'),
  appliance('audit prove', 'data/'),
  appliance('audit disclosures', 'data/, certs/ (token key)'),
  appliance('audit breach-report', 'data/'),
  appliance('audit resolve', 'data/, certs/ (KEK, token key) (audited)'),
  appliance('audit break-glass', 'data/'),
  appliance('certs init', 'certs/ (the LAN CA key)'),
  appliance('certs issue', 'certs/ (the LAN CA key)'),
  appliance('certs revoke', 'certs/ (the LAN CA key, CRL)'),
  appliance('certs list', 'certs/'),
  appliance('certs csr', 'certs/ (writes uplink.key)'),
  files('certs pin', 'a server address or a certificate file'),
  appliance('keys list', 'certs/'),
  appliance('keys rotate', 'certs/ (signing keys)'),
  appliance('keys remove', 'certs/ (destroys a retired seed)'),
  appliance('keys recipient', 'certs/'),
  files('envelope open', 'the envelope and the recipient key given'),
  files('envelope verify', 'the envelope given'),
  appliance('envelope seal', 'certs/ (the gateway signing key)'),
  appliance('tokens create', 'data/ (audited)'),
  appliance('tokens list', 'data/'),
  appliance('tokens revoke', 'data/ (audited)'),
  { command: 'link status', guard: 'admin-api', touches: 'a running gateway, with a token holding `status.read`' },
  appliance('link test', 'certs/ (TLS client key, pins, recipient keys)'),
  appliance('doctor', 'data/, certs/'),
  appliance('backup', 'data/, certs/'),
  files('restore', 'the backup file and passphrase given, into an empty folder'),
  appliance('store migrate', 'data/, certs/ (signs a last tree head), and the PostgreSQL database named'),
  appliance('service install', 'the config and data/ (the unit runs the gateway on them), the systemd unit folder (root)'),
  files('service uninstall', 'the systemd unit folder (the operating system decides: root)'),
  appliance('patient erase', 'data/, certs/ (KEK, token key) (audited)'),
];

const GUARD_WORDS: Record<CliGuard, string> = {
  appliance: 'the owner of data/ and certs/ (the service user) or root',
  files: 'anyone holding the files named',
  'admin-api': 'a token with the route’s role (see the route matrix)',
};

/** The CLI matrix as it appears in docs/security.md. */
export function cliMatrixMarkdown(rules: readonly CliAccessRule[] = CLI_ACCESS): string {
  return [
    '| command | who may run it | another OS user | touches |',
    '|---|---|---|---|',
    ...rules.map((r) => `| \`darwaza ${r.command}\` | ${GUARD_WORDS[r.guard]} | ${r.guard === 'appliance' ? 'refused (exit 5)' : r.guard === 'files' ? 'yes, with the files' : 'only with a token'} | ${r.touches} |`),
  ].join('\n');
}

/** Refused by the operating system: exit code 5, with the folder and its owner named. */
export class CliAccessDenied extends Error {
  override name = 'CliAccessDenied';
  constructor(readonly path: string) {
    super(deniedMessage(path));
  }
}

function ownerName(uid: number): string {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const [name, , id] = line.split(':');
      if (name && Number(id) === uid) return name;
    }
  } catch {
    /* no passwd file: the number will do */
  }
  return `uid ${uid}`;
}

function deniedMessage(path: string): string {
  // Name the nearest folder this user can see, and who owns it.
  let p = path;
  for (;;) {
    try {
      const st = statSync(p);
      const mode = (st.mode & 0o777).toString(8).padStart(3, '0');
      const owner = ownerName(st.uid);
      return `permission denied on ${path}: ${p} belongs to ${owner} (mode ${mode}). The gateway's folders are guarded by their owner; run this command as ${owner} (for example: sudo -u ${owner} darwaza …).`;
    } catch {
      const up = dirname(p);
      if (up === p) return `permission denied on ${path}`;
      p = up;
    }
  }
}

/** Throws CliAccessDenied when this user cannot open the folder (a folder that does not exist yet is fine). */
export function assertFolderReadable(dir: string): void {
  try {
    statSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new CliAccessDenied(dir);
    return; // ENOENT and the like: the command says what is missing
  }
  try {
    accessSync(dir, constants.R_OK | constants.X_OK);
  } catch {
    throw new CliAccessDenied(dir);
  }
}

/** An EACCES/EPERM from the file system, turned into the sentence above. */
export function accessDeniedFrom(err: unknown): CliAccessDenied | undefined {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof CliAccessDenied) return e;
  if (e && (e.code === 'EACCES' || e.code === 'EPERM') && typeof e.path === 'string') return new CliAccessDenied(e.path);
  return undefined;
}

/** For commands that catch their own errors: a permission refusal still reaches main's exit code 5. */
export function rethrowIfDenied(err: unknown): void {
  const denied = accessDeniedFrom(err);
  if (denied) throw denied;
}
