// Where a Sender sends from: a bound dgram socket's descriptor, or the
// address of a socket of its own, packed for the addon.
import type { Socket } from 'node:dgram';
import { MEMBER_BYTES, packEndpoint, parseEndpoint } from './address';
import { argError } from './errors';
import type { SenderConfig } from './options';

/**
 * The descriptor of a bound dgram socket. Node has no public API for it; it
 * sits on the socket's handle, reached through the socket's internal state
 * (socket._handle is the same object, but reading it prints DEP0112).
 */
export function socketFd(socket: Socket): number {
  const state = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'state symbol');
  const handle = state ? (socket as unknown as Record<symbol, { handle?: { fd?: unknown } }>)[state]?.handle
    : (socket as unknown as { _handle?: { fd?: unknown } })._handle;
  const fd = handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw argError('ERR_INVALID_ARG_VALUE', 'options.socket must be bound (call bind() and wait for \'listening\')');
  return fd;
}

/** The local address as one packed member (native/member_table.h). */
export function packBind(bind: SenderConfig['bind']): Uint8Array {
  const packed = new Uint8Array(MEMBER_BYTES);
  packEndpoint(parseEndpoint(bind, undefined, 'options.bind'), packed, 0);
  return packed;
}
