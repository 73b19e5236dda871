export function b64encode(input, variant) {
  const v = { rawurl: 'base64url', url: 'base64url', rawstd: 'base64', std: 'base64' }[variant || 'std'];
  let s = Buffer.from(input).toString(v);
  if (variant === 'url') s += '='.repeat((4 - (s.length % 4)) % 4);
  if (variant === 'rawstd') s = s.replace(/=+$/, '');
  return s;
}

export default { b64encode };
