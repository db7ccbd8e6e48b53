/**
 * X.509 v2 CRL (RFC 5280 §5) built with node-forge's ASN.1 (forge itself cannot make CRLs),
 * signed by our CA with sha256WithRSAEncryption. OpenSSL (Node's TLS) checks it when
 * the server context has `crl`: a revoked client certificate fails the handshake.
 */
import forge from 'node-forge';

const { asn1, pki } = forge;

export interface RevokedEntry {
  /** Hex serial number as in the certificate. */
  serial: string;
  revokedAt: Date;
}

const time = (d: Date) =>
  d.getUTCFullYear() < 2050
    ? asn1.create(asn1.Class.UNIVERSAL, asn1.Type.UTCTIME, false, asn1.dateToUtcTime(d))
    : asn1.create(asn1.Class.UNIVERSAL, asn1.Type.GENERALIZEDTIME, false, asn1.dateToGeneralizedTime(d));

const integerFromHex = (hex: string) => {
  let h = hex.length % 2 ? `0${hex}` : hex;
  if (parseInt(h.slice(0, 2), 16) >= 0x80) h = `00${h}`; // keep it positive
  return asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, forge.util.hexToBytes(h));
};

const sha256WithRsa = () =>
  asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer(pki.oids.sha256WithRSAEncryption).getBytes()),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.NULL, false, ''),
  ]);

export function buildCrl(opts: {
  caCert: forge.pki.Certificate;
  caKey: forge.pki.rsa.PrivateKey;
  revoked: RevokedEntry[];
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
}): string {
  const { caCert, caKey } = opts;
  const ski = caCert.generateSubjectKeyIdentifier().getBytes();
  const extensions = asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, true, [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
      // cRLNumber (2.5.29.20)
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer('2.5.29.20').getBytes()),
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OCTETSTRING, false, asn1.toDer(integerFromHex(opts.crlNumber.toString(16))).getBytes()),
      ]),
      // authorityKeyIdentifier (2.5.29.35) { keyIdentifier [0] }
      asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
        asn1.create(asn1.Class.UNIVERSAL, asn1.Type.OID, false, asn1.oidToDer('2.5.29.35').getBytes()),
        asn1.create(
          asn1.Class.UNIVERSAL,
          asn1.Type.OCTETSTRING,
          false,
          asn1.toDer(asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [asn1.create(asn1.Class.CONTEXT_SPECIFIC, 0, false, ski)])).getBytes(),
        ),
      ]),
    ]),
  ]);
  const tbs: forge.asn1.Asn1[] = [
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.INTEGER, false, asn1.integerToDer(1).getBytes()), // v2
    sha256WithRsa(),
    pki.distinguishedNameToAsn1(caCert.subject),
    time(opts.thisUpdate),
    time(opts.nextUpdate),
  ];
  if (opts.revoked.length > 0) {
    tbs.push(
      asn1.create(
        asn1.Class.UNIVERSAL,
        asn1.Type.SEQUENCE,
        true,
        opts.revoked.map((r) =>
          asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [integerFromHex(r.serial), time(r.revokedAt)]),
        ),
      ),
    );
  }
  tbs.push(extensions);
  const tbsAsn1 = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, tbs);
  const md = forge.md.sha256.create();
  md.update(asn1.toDer(tbsAsn1).getBytes());
  const signature = caKey.sign(md);
  const crl = asn1.create(asn1.Class.UNIVERSAL, asn1.Type.SEQUENCE, true, [
    tbsAsn1,
    sha256WithRsa(),
    asn1.create(asn1.Class.UNIVERSAL, asn1.Type.BITSTRING, false, `\x00${signature}`),
  ]);
  const der = asn1.toDer(crl).getBytes();
  return forge.pem.encode({ type: 'X509 CRL', body: der }, { maxline: 64 });
}
