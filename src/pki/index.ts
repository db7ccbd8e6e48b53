/**
 * src/pki — the hospital LAN's certificate authority and TLS options (node-forge + node:tls):
 * mutual TLS for LAN ingress, client certificates and a CRL, the uplink's client certificate
 * request and server pinning, certificate expiry for metrics.
 */
export {
  initCa,
  loadCa,
  issueCertificate,
  issueFromCsr,
  type CsrIssued,
  revokeCertificate,
  refreshCrl,
  crlNextUpdate,
  createUplinkCsr,
  certificateStatus,
  DEFAULT_CA_DAYS,
  DEFAULT_CERT_DAYS,
  DEFAULT_CRL_DAYS,
  DEFAULT_KEY_BITS,
  type CertKind,
  type CertRecord,
  type CertificateStatus,
  type IssueOptions,
  type IssuedCertificate,
  type PkiOptions,
} from './ca.js';
export {
  lanTlsOptions,
  clientName,
  clientNames,
  onTlsHandshakeFailure,
  uplinkTlsOptions,
  spkiSha256,
  watchLanTls,
  DEFAULT_CRL_REFRESH_BEFORE_MS,
  DEFAULT_TLS_RELOAD_INTERVAL_MS,
  type LanTlsOptions,
  type LanTlsReloader,
  type HandshakeFailure,
  type UplinkTlsConfig,
} from './tls.js';
export { PkiError, PKI_FILES } from './files.js';
export { checkSpkiPin, fetchSpkiPin, type PinnedDestination } from './pin.js';
