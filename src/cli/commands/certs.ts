/**
 * `darwaza certs` — the hospital LAN's certificate authority: init, issue (client or
 * --server), revoke (CRL), list (with days left), csr (for the national CA), pin.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { EXIT, UsageError, parseFlags, type CliIo, type Command } from '../command.js';
import { PATH_FLAGS, pathUsage, resolvePaths, type PathValues } from '../paths.js';
import {
  PkiError,
  certificateStatus,
  createUplinkCsr,
  initCa,
  issueCertificate,
  issueFromCsr,
  revokeCertificate,
  spkiSha256,
  fetchSpkiPin,
  DEFAULT_CERT_DAYS,
} from '../../pki/index.js';

/** Where certs/ is: the CLI's one rule (src/cli/paths.ts). */
export function resolveCertsDir(io: CliIo, values: PathValues): string {
  return resolvePaths(io, values).certsDir();
}

export const CERTS_DIR_FLAGS = { 'certs-dir': PATH_FLAGS['certs-dir'], config: PATH_FLAGS.config } as const;

const USAGE = `Usage: darwaza certs <subcommand> [--certs-dir DIR | --config FILE]

Subcommands:
  init [--org NAME] [--days N]        make the LAN CA (ca.key, ca.crt) and an empty CRL, if missing
  issue --csr FILE [--days N]         client certificate for a LAN system's own CSR (RSA ≥ 2048; its
                                      commonName is the client name): clients/<name>.crt; the
                                      system's private key never exists on the appliance
  issue <client-name> [--out DIR]     DEMO ONLY: makes the client's key here and writes key, .p12
                                      and .p12.pass to DIR (or the key and certificate to stdout);
                                      certs/clients keeps only the certificate
  issue --server <host> [--host H]... the gateway's LAN server certificate (server.key, server.crt)
        [--renew]                     replace an existing one (old files kept as <name>.<serial>-<time>.*)
  revoke <name|serial>                revoke and re-sign crl.pem (a running gateway honours it within a minute, at once on SIGHUP);
                                      a name revokes every unrevoked certificate of that name
  list [--json]                       every certificate with its expiry and days left
  csr --cn NAME [--org O] [--country CC]
                                      key + CSR for the uplink client certificate (national CA):
                                      uplink.key, uplink.csr; put the signed cert in uplink.crt
  pin --url https://HOST:PORT         the base64 SHA-256 SPKI pin of the certificate a server presents
  pin --cert FILE  (or pin FILE)      … of a PEM certificate file; for the pack's spkiPins (or tls.pinSha256)

Options:
${pathUsage('certs-dir', 'config')}
  --days N               validity in days (default ${DEFAULT_CERT_DAYS}; CA 3650)
  --json                 machine-readable output (list, pin)
Keys are written 0600 and never overwritten.`;

export const command: Command = {
  name: 'certs',
  summary: 'LAN certificate authority: init, issue, revoke, list, csr, pin',
  usage: USAGE,
  async run(args, io) {
    const { values, positionals } = parseFlags(args, {
      ...CERTS_DIR_FLAGS,
      days: { type: 'string' },
      server: { type: 'boolean' },
      renew: { type: 'boolean' },
      host: { type: 'string', multiple: true },
      org: { type: 'string' },
      cn: { type: 'string' },
      country: { type: 'string' },
      json: { type: 'boolean' },
      url: { type: 'string' },
      cert: { type: 'string' },
      csr: { type: 'string' },
      out: { type: 'string' },
    });
    const [sub, arg, ...extra] = positionals;
    if (!sub) throw new UsageError('a subcommand is required (init, issue, revoke, list, csr, pin)');
    if (extra.length) throw new UsageError(`unexpected argument: ${extra[0]}`);
    let days: number | undefined;
    if (values.days !== undefined) {
      days = Number(values.days);
      if (!Number.isInteger(days) || days < 1) throw new UsageError('--days: expected a whole number of days');
    }
    try {
      if (sub === 'pin') {
        const file = values.cert ?? arg;
        if ((file ? 1 : 0) + (values.url ? 1 : 0) !== 1) throw new UsageError('pin needs one of --url https://HOST:PORT or --cert FILE');
        if (values.url) {
          let got;
          try {
            got = await fetchSpkiPin(values.url);
          } catch (err) {
            io.err(`certs: pin: ${(err as Error).message}`);
            return EXIT.failed;
          }
          if (values.json) io.out(JSON.stringify({ url: values.url, spkiPin: got.pin, subject: got.subject, issuer: got.issuer, validTo: got.validTo }));
          else {
            io.out(got.pin);
            io.err(`certs: pin of the certificate ${values.url} presented (subject "${got.subject}", issuer "${got.issuer}", valid to ${got.validTo}); the chain was not verified: compare it with the pin the service publishes before signing it into the pack`);
          }
          return EXIT.ok;
        }
        const pin = spkiSha256(readFileSync(resolve(io.cwd, file!)));
        io.out(values.json ? JSON.stringify({ cert: file, spkiPin: pin }) : pin);
        return EXIT.ok;
      }
      const dir = resolveCertsDir(io, values);
      switch (sub) {
        case 'init': {
          const made = initCa(dir, { organization: values.org, days });
          io.out(made ? `certs: made the LAN CA in ${dir} (ca.crt, ca.key, crl.pem)` : `certs: ${dir} already has a CA; nothing changed`);
          return EXIT.ok;
        }
        case 'issue': {
          if (values.csr !== undefined) {
            if (values.server || arg) throw new UsageError('issue --csr takes no name and no --server: the CSR names the client');
            const c = issueFromCsr(dir, readFileSync(resolve(io.cwd, values.csr), 'utf8'), { days, renew: values.renew });
            io.out(`certs: issued client certificate "${c.name}" serial ${c.serial}, valid until ${c.notAfter}, for the key in its CSR`);
            io.out(`  certificate ${c.certFile}`);
            return EXIT.ok;
          }
          if (!arg) throw new UsageError(values.server ? 'issue --server needs a host name' : 'issue needs a client name (or --csr FILE)');
          if (!values.server) return issueDemoClient(io, dir, arg, { days, renew: values.renew, out: values.out });
          const c = issueCertificate(dir, arg, { days, server: values.server, hosts: values.host, renew: values.renew });
          io.out(`certs: issued ${values.server ? 'server' : 'client'} certificate "${c.name}" serial ${c.serial}, valid until ${c.notAfter}`);
          io.out(`  certificate ${c.certFile}`);
          io.out(`  key         ${c.keyFile}`);
          if (c.p12File) io.out(`  PKCS#12     ${c.p12File} (password in ${c.p12PasswordFile})`);
          return EXIT.ok;
        }
        case 'revoke': {
          if (!arg) throw new UsageError('revoke needs a client name or serial');
          for (const r of revokeCertificate(dir, arg)) io.out(`certs: revoked "${r.name}" serial ${r.serial}; crl.pem re-signed`);
          io.out('  a running gateway applies it on its next CRL reload (or restart)');
          return EXIT.ok;
        }
        case 'list': {
          const list = certificateStatus(dir);
          if (values.json) io.out(JSON.stringify(list, null, 2));
          else if (list.length === 0) io.out(`certs: no certificates in ${dir} (run "darwaza certs init")`);
          else {
            io.out('NAME                 KIND    SERIAL                            NOT AFTER                 DAYS  STATE');
            for (const c of list) {
              const state = c.revoked ? 'revoked' : c.daysLeft < 0 ? 'expired' : c.daysLeft <= 30 ? 'expires soon' : 'valid';
              io.out(`${c.name.padEnd(20)} ${c.kind.padEnd(7)} ${c.serial.padEnd(33)} ${c.notAfter.padEnd(25)} ${String(c.daysLeft).padStart(4)}  ${state}`);
            }
          }
          return EXIT.ok;
        }
        case 'csr': {
          if (!values.cn) throw new UsageError('csr needs --cn NAME (the gateway name to be certified)');
          const r = createUplinkCsr(dir, { commonName: values.cn, organization: values.org, country: values.country });
          io.out(`certs: wrote ${r.csrFile} (key ${r.keyFile}); send the CSR to the national CA and save its answer as uplink.crt`);
          io.out(r.csrPem.trimEnd());
          return EXIT.ok;
        }
        default:
          throw new UsageError(`unknown subcommand: ${sub}`);
      }
    } catch (err) {
      if (err instanceof PkiError) {
        io.err(`certs: ${err.message}`);
        return EXIT.failed;
      }
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && sub === 'pin') {
        io.err(`certs: ${values.cert ?? arg}: no such file`);
        return EXIT.badInput;
      }
      throw err;
    }
  },
};

/**
 * A client certificate whose key is made here: for demos only. The key, .p12 and its password
 * go to --out DIR, or (without it) the key and certificate are printed and nothing of the key
 * is kept: certs/clients holds the certificate and request only.
 */
function issueDemoClient(io: CliIo, certsDir: string, name: string, o: { days?: number; renew?: boolean; out?: string }): number {
  io.err('certs: WARNING — DEMO ONLY: this makes the client\'s private key on the appliance. Enrol real LAN systems with');
  io.err('       "darwaza certs issue --csr FILE" so their private key never exists here.');
  const keyDir = o.out ? resolve(io.cwd, o.out) : mkdtempSync(join(tmpdir(), 'darwaza-client-'));
  try {
    const c = issueCertificate(certsDir, name, { days: o.days, renew: o.renew, keyDir });
    io.out(`certs: issued client certificate "${c.name}" serial ${c.serial}, valid until ${c.notAfter}`);
    io.out(`  certificate ${c.certFile}`);
    if (o.out) {
      io.out(`  key         ${c.keyFile}`);
      io.out(`  PKCS#12     ${c.p12File} (password in ${c.p12PasswordFile})`);
      io.out('  move these to the client system and delete them here');
    } else {
      io.out(readFileSync(c.keyFile, 'utf8').trimEnd());
      io.out(readFileSync(c.certFile, 'utf8').trimEnd());
    }
    return EXIT.ok;
  } finally {
    if (!o.out) rmSync(keyDir, { recursive: true, force: true });
  }
}
