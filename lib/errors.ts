// Every error sendgroup raises is made here: one factory for argument
// errors, one table from errno to Node's code and message.
import { constants } from 'node:os';
import * as util from 'node:util';

export type ArgErrorCode =
  | 'ERR_INVALID_ARG_TYPE'
  | 'ERR_INVALID_ARG_VALUE'
  | 'ERR_OUT_OF_RANGE'
  | 'ERR_MISSING_ARGS';

/** A TypeError or RangeError carrying a Node-style `code`, thrown for bad arguments. */
export function argError(code: ArgErrorCode, message: string): TypeError | RangeError {
  const error = code === 'ERR_OUT_OF_RANGE' ? new RangeError(message) : new TypeError(message);
  return Object.assign(error, { code });
}

/** Text the user gave, in single quotes, as it may go to a terminal or a journal: its first 60 characters, control and direction-changing ones escaped. */
export function quoted(text: string): string {
  const cut = text.length > 60 ? text.slice(0, 60) : text;
  // eslint-disable-next-line no-control-regex
  const escaped = cut.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u2028-\u202e\u2066-\u2069]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return cut === text ? `'${escaped}'` : `'${escaped}…'`;
}

const OBJECT_KINDS = { array: 'an array', other: 'an object', revoked: 'a revoked Proxy' } as const;

/** What an argument error says it received: a primitive's value (a string quoted), an object's kind; no user code runs. */
export function received(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'string': return quoted(value);
    case 'object': return OBJECT_KINDS[arrayKind(value)];
    case 'function': return 'a function';
    case 'symbol': return 'a symbol';
    case 'bigint': return `${value}n`;
    default: return String(value);
  }
}

/** What Array.isArray says of an object: it throws only for a revoked Proxy, where every read throws a TypeError without a code. */
function arrayKind(value: unknown): 'array' | 'other' | 'revoked' {
  try {
    return Array.isArray(value) ? 'array' : 'other';
  } catch {
    return 'revoked';
  }
}

/** Array.isArray, false for a revoked Proxy. */
export function isArray(value: unknown): value is unknown[] {
  return arrayKind(value) === 'array';
}

export function isRevoked(value: unknown): boolean {
  return arrayKind(value) === 'revoked';
}

/** An object an options or target argument may be: not null, an array or a revoked Proxy. */
export function isRecord(value: unknown): value is object {
  return typeof value === 'object' && value !== null && arrayKind(value) === 'other';
}

/** Thrown or rejected when a Sender is used after close(). */
export function closedError(what = 'Sender'): Error {
  return Object.assign(new Error(`${what} is closed`), { code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' });
}

/** The error an aborted call rejects with, shaped like Node's own AbortError. */
export function abortError(reason?: unknown): Error {
  const error = new Error('The operation was aborted', { cause: reason });
  return Object.assign(error, { name: 'AbortError', code: 'ABORT_ERR' });
}

// errno (positive, as C has it) -> [code, message]: Node's own table (on
// Linux libuv's error numbers are the negated C errnos), so codes match what
// dgram and fs report; os.constants fills in the few libuv does not name.
const errnoTable = new Map<number, [string, string]>();
for (const [uvErrno, entry] of util.getSystemErrorMap()) errnoTable.set(-uvErrno, entry);
for (const [name, errno] of Object.entries(constants.errno)) {
  if (!errnoTable.has(errno)) errnoTable.set(errno, [name, name]);
}

/**
 * Node's code, message and errno (negative, as Node's system errors have it)
 * for a C errno as the addon reports it (positive). The one place the sign
 * turns.
 */
export function describeErrno(errno: number): { code: string; message: string; errno: number } {
  const entry = errnoTable.get(errno);
  return entry ? { code: entry[0], message: entry[1], errno: -errno } : { code: 'UNKNOWN', message: `unknown error ${errno}`, errno: -errno };
}

/**
 * Wraps an error the addon threw for a failed system call ({ errno, syscall })
 * into Node's system-error shape; anything else passes through.
 */
export function systemError(error: unknown): unknown {
  const native = error as { errno?: unknown; syscall?: unknown };
  if (typeof native?.errno !== 'number' || typeof native.syscall !== 'string') return error;
  const { code, message, errno } = describeErrno(native.errno);
  return Object.assign(new Error(`${native.syscall} ${code}: ${message}`), { code, errno, syscall: native.syscall });
}
