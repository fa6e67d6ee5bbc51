// Addresses as the command line writes them: '1.2.3.4:5', '[v6]:5' (or an
// address alone, for --allow), IP literals only, and which of them a socket
// on --listen can meet. Errors say what is wrong, without naming whose.
import { isIPv4, isIPv6 } from 'node:net';
import { Endpoint, Family, checkAddress, packOne } from '../address';
import { quoted } from '../errors';

/** What a --listen address can reach: IPv4 only, IPv6 only, or both ('::'). */
export type Reach = Family | 'both';

export interface Target extends Endpoint {
  /** As printed: 1.2.3.4:5 or [::1]:5. */
  readonly text: string;
  /** The packed member: equal for equal endpoints however they were written. */
  readonly key: string;
}

export interface TargetForm {
  /** The lowest port taken: 1 for members, 0 where 0 means any. */
  minPort: number;
  /** An address alone is taken too, as port 0. */
  addressOnly?: boolean;
}

/** 1.2.3.4:5 or [::1]:5 */
export function show(address: string, port: number, family: Family): string {
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/** The packed endpoint as hex: a Target's key. */
export function endpointKey(endpoint: Endpoint): string {
  return Buffer.from(packOne(endpoint)).toString('hex');
}

/** The address and the port's text (undefined when none is written) of '1.2.3.4:5', '[v6]:5' or an address. */
function splitTarget(text: string, addressOnly: boolean): { address: string; portText: string | undefined } {
  if (text.includes('/')) throw new Error('address ranges are not taken; name each address');
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    const [, address, portText] = bracketed as unknown as [string, string, string | undefined];
    if (!isIPv6(address)) throw new Error(`${quoted(address)} is not an IPv6 address`);
    return { address, portText };
  }
  if (addressOnly && (isIPv4(text) || isIPv6(text))) return { address: text, portText: undefined };
  const colon = text.indexOf(':');
  if ((text.match(/:/g) ?? []).length > 1) {
    if (isIPv6(text)) throw new Error('an IPv6 address needs its port: [ADDRESS]:PORT');
    if (isIPv4(text.slice(0, colon))) throw new Error(`one ':' between an IPv4 address and its port, e.g. 192.0.2.1:5004`);
    throw new Error('an IPv6 address with a port is written [ADDRESS]:PORT');
  }
  const address = colon < 0 ? text : text.slice(0, colon);
  if (!isIPv4(address)) throw new Error(`${quoted(address)} is not an IP address (names are not looked up)`);
  return { address, portText: colon < 0 ? undefined : text.slice(colon + 1) };
}

function parsePort(portText: string | undefined, { minPort, addressOnly = false }: TargetForm): number {
  if (portText === undefined) {
    if (!addressOnly) throw new Error('expected HOST:PORT, e.g. 192.0.2.1:5004 or [2001:db8::1]:5004');
    return 0;
  }
  const port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
  if (!(port >= minPort && port <= 65535)) throw new Error(`the port must be a number from ${minPort} to 65535, not ${quoted(portText)}`);
  return port;
}

/** An IPv4 address written v4-mapped is that IPv4 address (the relay sees IPv4 sources so). */
function unmapped(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped && isIPv4(mapped[1]!) ? mapped[1]! : address;
}

/** 'a.b.c.d:port' or '[v6]:port' (or, with addressOnly, an address alone, port 0) as a Target. */
export function parseTarget(text: string, form: TargetForm): Target {
  const split = splitTarget(text, form.addressOnly ?? false);
  const port = parsePort(split.portText, form);
  // Checked as the library checks it (an IPv6 zone is an interface index).
  const { address, family } = checkAddress(unmapped(split.address), 'the address');
  const shown = port || !form.addressOnly ? show(address, port, family) : address;
  return { address, port, family, text: shown, key: endpointKey({ address, port, family }) };
}

/** 0.0.0.0 or '::': the 16 address bytes of its key zero. */
function unspecified(target: Target): boolean {
  return /^0+$/.test(target.key.slice(16, 48));
}

/** An IPv4 socket reaches IPv4, one on '::' both, any other IPv6 one IPv6. */
function reachOf(listen: Target): Reach {
  if (listen.family === 'IPv4') return 'IPv4';
  return unspecified(listen) ? 'both' : 'IPv6';
}

/** parseTarget, refused too when `what` (a source, a member) and a socket on `listen` cannot meet. */
export function parseReachable(text: string, form: TargetForm, listen: Target, what: string): Target {
  const target = parseTarget(text, form);
  if (what === 'source' && unspecified(target)) throw new Error(`${target.address} is not a source address (to allow every source, say --allow any)`);
  // The kernel sends to this host then: a member never meant so.
  if (what === 'member' && unspecified(target)) throw new Error(`${target.address} is not a member address (a datagram to it goes to this host); name the receiver's address`);
  const reach = reachOf(listen);
  if (reach !== 'both' && reach !== target.family) {
    throw new Error(`an ${target.family} ${what} and --listen ${listen.text} (${reach} only) cannot meet; listen on [::]:${listen.port} for both`);
  }
  return target;
}
