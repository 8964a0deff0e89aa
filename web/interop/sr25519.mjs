// sr25519 through @scure/sr25519, an implementation independent of Rust's schnorrkel.
//   node sr25519.mjs sign <seed-hex> <message>           -> prints "<public-hex> <signature-hex>"
//   node sr25519.mjs verify <public-hex> <message> <sig> -> exit 0 if valid, 1 if not
// The signing context is "substrate", built into @scure/sr25519's sign and verify.
import * as sr25519 from '@scure/sr25519';

const hex = (bytes) => Buffer.from(bytes).toString('hex');
const unhex = (text) => Uint8Array.from(Buffer.from(text.replace(/^0x/, ''), 'hex'));
const utf8 = (text) => new TextEncoder().encode(text);

const [command, ...args] = process.argv.slice(2);
if (command === 'sign' && args.length === 2) {
  const secret = sr25519.secretFromSeed(unhex(args[0]));
  const signature = sr25519.sign(secret, utf8(args[1]));
  console.log(`${hex(sr25519.getPublicKey(secret))} ${hex(signature)}`);
} else if (command === 'verify' && args.length === 3) {
  const valid = sr25519.verify(utf8(args[1]), unhex(args[2]), unhex(args[0]));
  console.log(valid ? 'valid' : 'invalid');
  process.exit(valid ? 0 : 1);
} else {
  console.error('usage: sr25519.mjs sign <seed-hex> <message> | verify <public-hex> <message> <signature-hex>');
  process.exit(2);
}
