/**
 * The systemd unit for darwaza: a dedicated system user, the file system read-only but for
 * the data and certs folders, no new privileges, a private /tmp, a memory ceiling and a
 * restart on failure. A pure function of its options, so tests read exactly what is written.
 */
export interface UnitOptions {
  /** The user (and group) the service runs as. */
  user: string;
  /** The command that runs darwaza: the single binary, or node and the bundle. */
  exec: string[];
  configFile: string;
  /** The appliance folder (working directory). */
  workDir: string;
  dataDir: string;
  certsDir: string;
  /** systemd MemoryMax= (e.g. "1G"). */
  memoryMax: string;
  /** The lowest listener port: below 1024 the unit grants CAP_NET_BIND_SERVICE and nothing else. */
  lowestPort?: number;
}

export const UNIT_NAME = 'darwaza.service';
export const DEFAULT_UNIT_DIR = '/etc/systemd/system';
export const DEFAULT_SERVICE_USER = 'darwaza';
export const DEFAULT_MEMORY_MAX = '1G';

/** systemd's quoting for one word of ExecStart= (spaces, quotes, backslashes, %). */
export function quoteWord(w: string): string {
  const escaped = w.replace(/%/g, '%%');
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(escaped)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/** A path in a space-separated list (ReadWritePaths=): quoted when it holds spaces. */
const pathWord = (p: string) => (/\s|"/.test(p) ? `"${p.replace(/"/g, '\\"')}"` : p);

export function renderUnit(o: UnitOptions): string {
  const lowPort = o.lowestPort !== undefined && o.lowestPort < 1024;
  return `# Written by \`darwaza service install\`. Remove with \`darwaza service uninstall\`.
[Unit]
Description=darwaza privacy-first health data gateway
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${o.user}
Group=${o.user}
WorkingDirectory=${pathWord(o.workDir)}
ExecStart=${[...o.exec, 'start', '--config', o.configFile].map(quoteWord).join(' ')}
# SIGHUP reloads the policy, the signing keys and the TLS material.
ExecReload=/bin/kill -HUP $MAINPID
# A clean stop finishes deliveries in flight and signs a last audit tree head.
KillSignal=SIGTERM
TimeoutStopSec=60
Restart=on-failure
RestartSec=5
# The single binary unpacks its SQLite addon here (systemd makes it, owned by the user).
CacheDirectory=darwaza
Environment=DARWAZA_CACHE_DIR=/var/cache/darwaza
UMask=0077
LimitNOFILE=65536
MemoryMax=${o.memoryMax}

# Hardening: everything read-only but the data and certs folders.
ProtectSystem=strict
ReadWritePaths=${pathWord(o.dataDir)} ${pathWord(o.certsDir)}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
NoNewPrivileges=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX
SystemCallArchitectures=native
${lowPort ? 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE\nAmbientCapabilities=CAP_NET_BIND_SERVICE' : 'CapabilityBoundingSet='}

# Logs go to the journal (JSON lines): journalctl -u darwaza -o cat | jq .
StandardOutput=journal
StandardError=journal
SyslogIdentifier=darwaza

[Install]
WantedBy=multi-user.target
`;
}
