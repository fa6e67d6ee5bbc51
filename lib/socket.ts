// Where a Sender sends from: a bound dgram socket's descriptor, or the
// address of a socket of its own, packed for the addon.
import type { Socket } from 'node:dgram';
import { checkAddress, packOne, parseEndpoint } from './address';
import { argError, received } from './errors';
import { forAddon, NativeSocketOptions } from './native';
import { checkInteger, type SenderConfig } from './options';

/**
 * The descriptor of a bound dgram socket. Node has no public API for it; it
 * sits on the socket's handle, reached through the socket's internal state
 * (socket._handle is the same object, but reading it prints DEP0112).
 */
export function socketFd(socket: Socket): number {
  const fd = socketHandle(socket)?.fd;
  if (typeof fd !== 'number' || fd < 0) throw argError('ERR_INVALID_ARG_VALUE', 'options.socket must be bound (call bind() and wait for \'listening\')');
  return fd;
}

/** What we use of dgram's internal UDP handle (null once the socket is closed). */
type SocketHandle = { fd?: unknown; recvStop?: () => number; recvStart?: () => number };

/** A dgram socket's libuv handle (its descriptor; recvStop(), recvStart()). */
export function socketHandle(socket: Socket): SocketHandle | undefined {
  const state = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'state symbol');
  return state
    ? (socket as unknown as Record<symbol, { handle?: SocketHandle }>)[state]?.handle
    : (socket as unknown as { _handle?: SocketHandle })._handle;
}

/** The local address as one packed member (native/member_table.h). */
export function packBind(bind: SenderConfig['bind']): Uint8Array {
  return packOne(parseEndpoint(bind, undefined, 'options.bind'));
}

function checkBoolean(value: unknown, name: string): number {
  if (typeof value !== 'boolean') throw argError('ERR_INVALID_ARG_TYPE', `${name} must be a boolean, received ${received(value)}`);
  return value ? 1 : 0;
}

/** '1.2.3.4' (an IPv4 interface address) or '::%N' (IPv6 interface index N), packed. */
function packInterface(value: unknown): Uint8Array {
  const name = 'options.multicastInterface';
  const { address, family } = checkAddress(value, name);
  if (family !== 'IPv4' && !address.startsWith('::%')) {
    throw argError('ERR_INVALID_ARG_VALUE', `${name} must be an IPv4 address or '::%N' (N: an interface index), received ${received(address)}`);
  }
  return packOne({ address, family, port: 0 });
}

/** The socket options given (others keep the kernel's defaults), checked. */
export function parseSocketOptions(o: Record<string, unknown>): NativeSocketOptions {
  const out = forAddon<NativeSocketOptions>({});
  if (o.ttl !== undefined) out.ttl = checkInteger(o.ttl, 'options.ttl', 1, 255);
  if (o.tos !== undefined) out.tos = checkInteger(o.tos, 'options.tos', 0, 255);
  if (o.multicastTtl !== undefined) out.multicastTtl = checkInteger(o.multicastTtl, 'options.multicastTtl', 0, 255);
  if (o.broadcast !== undefined) out.broadcast = checkBoolean(o.broadcast, 'options.broadcast');
  if (o.multicastLoopback !== undefined) out.multicastLoopback = checkBoolean(o.multicastLoopback, 'options.multicastLoopback');
  if (o.multicastInterface !== undefined) out.multicastInterface = packInterface(o.multicastInterface);
  return out;
}
