// A CMS SignedData (RFC 5652) over a document, signed in the browser with a WebCrypto ECDSA P-256
// key: what `POST /api/v1/requests/{number}/signature` takes in development mode, where the
// development CA certifies the browser's key. (Production signs with NCALayer instead, which
// makes the CMS itself.) The encoder below writes only the few DER shapes a SignedData needs;
// a general ASN.1 library would be most of the page's weight for them.

const enc = new TextEncoder();

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function length(n) {
  if (n < 0x80) return Uint8Array.of(n);
  const bytes = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.of(0x80 | bytes.length, ...bytes);
}

const tlv = (tag, ...content) => {
  const body = concat(...content);
  return concat(Uint8Array.of(tag), length(body.length), body);
};
const seq = (...items) => tlv(0x30, ...items);
const octets = (bytes) => tlv(0x04, bytes);
const explicit = (n, ...items) => tlv(0xa0 | n, ...items);

// A SET OF in DER order: its elements sorted by their encodings.
function setOf(items, tag = 0x31) {
  const sorted = [...items].sort((a, b) => {
    for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  });
  return tlv(tag, ...sorted);
}

function oid(text) {
  const [a, b, ...rest] = text.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const arc of rest) {
    const base128 = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) base128.unshift(0x80 | (v & 0x7f));
    bytes.push(...base128);
  }
  return tlv(0x06, Uint8Array.from(bytes));
}

// An unsigned big-endian integer as a DER INTEGER (no superfluous zeros; a zero before a set top bit).
function integer(bytes) {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  const trimmed = bytes.slice(i);
  return tlv(0x02, trimmed[0] & 0x80 ? concat(Uint8Array.of(0), trimmed) : trimmed);
}

function utcTime(date) {
  const two = (n) => String(n).padStart(2, '0');
  const text = two(date.getUTCFullYear() % 100) + two(date.getUTCMonth() + 1) + two(date.getUTCDate())
    + two(date.getUTCHours()) + two(date.getUTCMinutes()) + two(date.getUTCSeconds()) + 'Z';
  return tlv(0x17, enc.encode(text));
}

// One TLV read at `at`: its tag, where its content starts and where it ends.
function read(der, at) {
  const tag = der[at];
  let len = der[at + 1];
  let start = at + 2;
  if (len & 0x80) {
    const count = len & 0x7f;
    len = 0;
    for (let i = 0; i < count; i++) len = len * 256 + der[start + i];
    start += count;
  }
  return { tag, start, end: start + len, whole: der.slice(at, start + len) };
}

// The issuer and serial number of a certificate: how the SignerInfo names its signer.
function issuerAndSerial(certificate) {
  const tbs = read(certificate, read(certificate, 0).start);
  let field = read(certificate, tbs.start);
  if (field.tag === 0xa0) field = read(certificate, field.end); // the version
  const serial = field;
  const algorithm = read(certificate, serial.end);
  const issuer = read(certificate, algorithm.end);
  return seq(issuer.whole, serial.whole);
}

// WebCrypto's ECDSA signature (r || s) as the DER ECDSA-Sig-Value CMS carries.
function ecdsaDer(raw) {
  const half = raw.length / 2;
  return seq(integer(raw.slice(0, half)), integer(raw.slice(half)));
}

const SHA256 = seq(oid('2.16.840.1.101.3.4.2.1'));
const ECDSA_SHA256 = seq(oid('1.2.840.10045.4.3.2'));

// The DER of a CMS SignedData (attached) over `document` by `key` (an ECDSA P-256 CryptoKey),
// carrying `certificate` (DER), with the signed attributes contentType, signingTime and
// messageDigest.
export async function signedData(document, key, certificate, now = new Date()) {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', document));
  const data = oid('1.2.840.113549.1.7.1');
  const attributes = [
    seq(oid('1.2.840.113549.1.9.3'), setOf([data])),
    seq(oid('1.2.840.113549.1.9.5'), setOf([utcTime(now)])),
    seq(oid('1.2.840.113549.1.9.4'), setOf([octets(digest)])),
  ];
  // Signed as a SET; carried as [0] IMPLICIT.
  const signed = setOf(attributes);
  const raw = new Uint8Array(await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, signed));
  const signerInfo = seq(
    integer(Uint8Array.of(1)),
    issuerAndSerial(certificate),
    SHA256,
    setOf(attributes, 0xa0),
    ECDSA_SHA256,
    octets(ecdsaDer(raw)),
  );
  const content = seq(
    integer(Uint8Array.of(1)),
    setOf([SHA256]),
    seq(data, explicit(0, octets(document))),
    tlv(0xa0, certificate),
    setOf([signerInfo]),
  );
  return seq(oid('1.2.840.113549.1.7.2'), explicit(0, content));
}
