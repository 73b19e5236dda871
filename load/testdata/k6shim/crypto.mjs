import { createHash, createHmac } from 'node:crypto';

const enc = (e) => (e === 'base64rawurl' ? 'base64url' : e);

export function sha1(input, encoding) {
  return createHash('sha1').update(Buffer.from(input)).digest(enc(encoding));
}

export function hmac(algorithm, secret, data, encoding) {
  return createHmac(algorithm, secret).update(data).digest(enc(encoding));
}

export default { sha1, hmac };
