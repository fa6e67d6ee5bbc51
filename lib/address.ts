// Recipient addresses: parsing what users write ('1.2.3.4:5', '[::1]:5',
// { address, port }) and packing it into the table the addon reads.
import { isIPv4, isIPv6 } from 'node:net';
import { argError, isRecord, received } from './errors';
import { readGiven } from './given';

export type Family = 'IPv4' | 'IPv6';

/** A recipient as users write it: 'host:port', '[v6]:port' or { address, port }. */
export type Target = string | { address: string; port: number };

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly family: Family;
}

/** Bytes per member in the packed table; layout in native/group.h. */
export const MEMBER_BYTES = 24;

function checkPort(port: unknown, name: string): number {
  if (typeof port !== 'number') throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a number, received ${received(port)}`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw argError('ERR_OUT_OF_RANGE', `${name} must be an integer from 0 to 65535, received ${received(port)}`);
  }
  return port;
}

/** An IP literal and its family; an IPv6 zone must be a numeric interface index. */
export function checkAddress(address: unknown, name: string): { address: string; family: Family } {
  if (typeof address !== 'string') throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a string, received ${received(address)}`);
  if (isIPv4(address)) return { address, family: 'IPv4' };
  if (isIPv6(address)) {
    checkZone(address, name);
    return { address, family: 'IPv6' };
  }
  throw argError('ERR_INVALID_ARG_VALUE', `${name} must be an IPv4 or IPv6 address literal (no DNS lookup is done), received ${received(address)}`);
}

function checkZone(address: string, name: string): void {
  const percent = address.indexOf('%');
  if (percent < 0) return;
  // Decimal digits only ('1e3' and '0x1' are numbers to Number(), not
  // interface indexes), and within the 32 bits sin6_scope_id holds.
  const zone = address.slice(percent + 1);
  if (!/^[0-9]{1,10}$/.test(zone) || Number(zone) > 0xffffffff) {
    throw argError('ERR_INVALID_ARG_VALUE', `${name}'s IPv6 zone must be a numeric interface index from 0 to 4294967295, received ${received(address)}`);
  }
}

function splitHostPort(text: string, name: string): [string, number] {
  const match = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!match) throw argError('ERR_INVALID_ARG_VALUE', `${name} must look like '1.2.3.4:5004' or '[::1]:5004', received ${received(text)}`);
  return [match[1]!, Number(match[2])];
}

/** Validates one recipient; `port` is for the add(address, port) form. */
export function parseEndpoint(target: unknown, port?: unknown, name = 'target'): Endpoint {
  let address: unknown;
  if (port !== undefined) {
    address = target;
  } else if (typeof target === 'string') {
    [address, port] = splitHostPort(target, name);
  } else if (isRecord(target)) {
    address = readGiven(target, 'address');
    port = readGiven(target, 'port');
  } else {
    throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a 'host:port' string or { address, port }, received ${received(target)}`);
  }
  const checked = checkAddress(address, `${name}.address`);
  return { address: checked.address, family: checked.family, port: checkPort(port, `${name}.port`) };
}

function ipv6Bytes(text: string, out: Uint8Array, at: number): number {
  let scope = 0;
  const percent = text.indexOf('%');
  if (percent >= 0) {
    // checkAddress has checked the zone.
    scope = Number(text.slice(percent + 1));
    text = text.slice(0, percent);
  }
  const words: number[] = [];
  const toWords = (part: string): number[] => {
    if (part === '') return [];
    return part.split(':').flatMap((piece) => {
      if (!piece.includes('.')) return [parseInt(piece, 16)];
      const [a, b, c, d] = piece.split('.').map(Number) as [number, number, number, number];
      return [(a << 8) | b, (c << 8) | d];
    });
  };
  const [head, tail] = text.split('::') as [string, string | undefined];
  const headWords = toWords(head);
  const tailWords = tail === undefined ? [] : toWords(tail);
  words.push(...headWords, ...new Array<number>(8 - headWords.length - tailWords.length).fill(0), ...tailWords);
  words.forEach((word, i) => {
    out[at + i * 2] = word >> 8;
    out[at + i * 2 + 1] = word & 0xff;
  });
  return scope;
}

/** One member packed on its own (a bind address, an interface, a key). */
export function packOne(endpoint: Endpoint): Uint8Array {
  const packed = new Uint8Array(MEMBER_BYTES);
  packEndpoint(endpoint, packed, 0);
  return packed;
}

/** Writes one member at byte offset `at` of a packed table. */
export function packEndpoint(endpoint: Endpoint, out: Uint8Array, at: number): void {
  out.fill(0, at, at + MEMBER_BYTES);
  out[at + 2] = endpoint.port >> 8;
  out[at + 3] = endpoint.port & 0xff;
  if (endpoint.family === 'IPv4') {
    out[at] = 4;
    endpoint.address.split('.').forEach((octet, i) => { out[at + 8 + i] = Number(octet); });
    return;
  }
  out[at] = 6;
  const scope = ipv6Bytes(endpoint.address, out, at + 8);
  new DataView(out.buffer, out.byteOffset).setUint32(at + 4, scope, true);
}
