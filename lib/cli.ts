// The `sendgroup` command (bin/sendgroup.js): `sendgroup relay` runs a Relay
// from the command line. Members come from --to and a --to-file that is
// re-read when it changes and on SIGHUP, the group kept by diffing; a status
// line per --stats-interval, a summary on SIGINT/SIGTERM. Exit status: 0
// when stopped by a signal, 1 for a runtime failure (a port in use), 2 for
// bad usage; every message names the argument (or file and line) at fault.
import * as fs from 'node:fs';
import { isIPv4, isIPv6 } from 'node:net';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { Endpoint, Family, MEMBER_BYTES, packEndpoint } from './address';
import { Group } from './group';
import { addon } from './native';
import { AUTO_ZERO_COPY_MIN_BYTES } from './options';
import { RELAY_DEFAULTS, Relay, RelayOptions, RelayStats } from './relay';
import type { UnreachableEvent } from './sender';

const PROGRAM = 'sendgroup';

/** Bad usage: exit status 2. */
class UsageError extends Error {}
/** The relay could not run: exit status 1. */
class RuntimeError extends Error {}

export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Lines to stdout and stderr; a reader that went away (EPIPE) stops the lines, not the relay. */
function processIO(): CliIO {
  const writer = (stream: NodeJS.WriteStream): ((line: string) => void) => {
    let open = true;
    stream.on('error', () => { open = false; });
    return (line) => { if (open) stream.write(`${line}\n`); };
  };
  return { out: writer(process.stdout), err: writer(process.stderr) };
}

/** The options of `sendgroup relay`, as parseArgs takes them (the help text lists each). */
export const RELAY_OPTIONS = {
  listen: { type: 'string' },
  allow: { type: 'string', multiple: true },
  to: { type: 'string', multiple: true },
  'to-file': { type: 'string' },
  'no-watch': { type: 'boolean' },
  'drop-unreachable': { type: 'boolean' },
  'zero-copy': { type: 'boolean' },
  threads: { type: 'string' },
  backend: { type: 'string' },
  buffers: { type: 'string' },
  'max-datagram': { type: 'string' },
  'send-buffer-size': { type: 'string' },
  ttl: { type: 'string' },
  tos: { type: 'string' },
  'stats-interval': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const MAIN_HELP = `Usage: ${PROGRAM} <command> [options]

Commands:
  relay        receive UDP datagrams on one port and forward each one, byte
               for byte, to every member of a group (${PROGRAM} relay --help)

Options:
  -h, --help   this text
  --version    the version of sendgroup
`;

const RELAY_HELP = `Usage: ${PROGRAM} relay --listen HOST:PORT --allow SOURCES
                      (--to HOST:PORT ... | --to-file FILE) [options]

Receives UDP datagrams on one socket and sends every datagram from an
allowed source, byte for byte, to every member (io_uring, or sendmmsg where
io_uring is blocked). Addresses are IP literals: no DNS lookup is done.

Where and from whom:
  --listen HOST:PORT       where to receive (and send from), e.g. 0.0.0.0:5000,
                           [::]:5000 (IPv4 and IPv6), 127.0.0.1:0 (a free port:
                           the first line printed says which). Required.
  --allow SOURCES          whose datagrams are forwarded; the rest are dropped
                           and counted. ADDRESS (any port), ADDRESS:PORT or
                           [V6]:PORT, comma-separated or repeated. Required.
                           --allow any forwards whatever arrives: anyone who
                           can reach the port can then make the relay send to
                           every member (an amplifier).

Members (one or both; duplicates collapse to one member):
  --to HOST:PORT           a member; repeat it (or comma-separate) for more
  --to-file FILE           members, one HOST:PORT per line, '#' starts a
                           comment. Re-read when the file changes (written in
                           place or replaced by rename) and on SIGHUP: members
                           in both stay, removed ones go, new ones are added
                           at the end, from the next datagram on. A malformed
                           line is reported with its line number and the
                           previous members stay in force.
  --no-watch               with --to-file: re-read it only on SIGHUP (for
                           filesystems without change events, such as NFS)
  --drop-unreachable       remove a member when an ICMP port unreachable names
                           it; a re-read of --to-file (or SIGHUP, for --to
                           members) brings it back

Sending:
  --zero-copy              zero-copy sends for every datagram (default: only
                           from ${AUTO_ZERO_COPY_MIN_BYTES} bytes up, where they pay)
  --threads N              send on N native threads, 0 to ${addon.limits.maxThreads} (default: 0, or
                           $SENDGROUP_THREADS)
  --backend NAME           auto, io_uring or sendmmsg (default: auto, io_uring
                           where a ring can be set up)
  --buffers N              receive buffers, 1 to ${addon.limits.maxRelayBuffers} (default: ${RELAY_DEFAULTS.buffers})
  --max-datagram BYTES     the longest datagram forwarded, 1 to 65507 (default:
                           ${RELAY_DEFAULTS.maxDatagram}); longer ones are dropped and counted
  --send-buffer-size BYTES SO_SNDBUF of the socket (default: the kernel's)
  --ttl N                  TTL / hop limit of what is sent, 1 to 255
  --tos N                  TOS / traffic class byte, 0 to 255 (DSCP EF: 184)

Output:
  --stats-interval SECONDS a status line every SECONDS (default: 10; 0: none;
                           fractions allowed, at least 0.1)
  -h, --help               this text

Status line, per interval: datagrams/s received and sent on (out), Mbit/s of
payload sent, members now, datagrams dropped in the interval by kind
(not-allowed: from a source --allow does not name; no-buffer: the socket's
receive queue overflowed; truncated: longer than --max-datagram; no-members:
arrived while the group was empty), member sends that failed, and how many
members an ICMP error called unreachable.

Signals: SIGHUP re-reads --to-file (and restores members --drop-unreachable
removed). SIGINT or SIGTERM stops receiving, lets the sends in flight finish,
prints the totals and exits 0.

Exit status: 0 stopped by SIGINT/SIGTERM; 1 the relay could not run (its port
in use, ...); 2 bad usage (the message names the argument).
`;

// ---------------------------------------------------------------- addresses

/** What a --listen address can reach: IPv4 only, IPv6 only, or both ('::'). */
type Reach = Family | 'both';

interface Target extends Endpoint {
  /** As printed: 1.2.3.4:5 or [::1]:5. */
  readonly text: string;
  /** The packed member: equal for equal endpoints however they were written. */
  readonly key: string;
}

function show(address: string, port: number, family: Family): string {
  return family === 'IPv6' ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * 'a.b.c.d:port' or '[v6]:port' (or, with addressOnly, an address alone,
 * port 0) as a Target; the error says what is wrong, without naming whose.
 */
function parseTarget(text: string, { minPort, addressOnly = false }: { minPort: number; addressOnly?: boolean }): Target {
  let address: string;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    [, address, portText] = bracketed as unknown as [string, string, string | undefined];
    if (!isIPv6(address)) throw new Error(`'${address}' is not an IPv6 address`);
  } else if (addressOnly && (isIPv4(text) || isIPv6(text))) {
    address = text;
  } else if ((text.match(/:/g) ?? []).length > 1) {
    throw new Error(isIPv6(text) ? 'an IPv6 address needs its port: [ADDRESS]:PORT' : 'an IPv6 address with a port is written [ADDRESS]:PORT');
  } else {
    const colon = text.indexOf(':');
    address = colon < 0 ? text : text.slice(0, colon);
    portText = colon < 0 ? undefined : text.slice(colon + 1);
    if (!isIPv4(address)) throw new Error(`'${address}' is not an IP address (names are not looked up)`);
  }
  let port = 0;
  if (portText === undefined) {
    if (!addressOnly) throw new Error('expected HOST:PORT, e.g. 192.0.2.1:5004 or [2001:db8::1]:5004');
  } else {
    port = /^\d{1,5}$/.test(portText) ? Number(portText) : NaN;
    if (!(port >= minPort && port <= 65535)) throw new Error(`the port must be a number from ${minPort} to 65535, not '${portText}'`);
  }
  // An IPv4 address written v4-mapped is that IPv4 address (the relay sees IPv4 sources so).
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1]!)) address = mapped[1]!;
  const family: Family = isIPv4(address) ? 'IPv4' : 'IPv6';
  const packed = new Uint8Array(MEMBER_BYTES);
  packEndpoint({ address, port, family }, packed, 0);
  return { address, port, family, text: port || !addressOnly ? show(address, port, family) : address, key: Buffer.from(packed).toString('hex') };
}

/** An IPv4 socket reaches IPv4, one on '::' (the 16 address bytes of its key zero) both, any other IPv6 one IPv6. */
function reachOf(listen: Target): Reach {
  if (listen.family === 'IPv4') return 'IPv4';
  return /^0+$/.test(listen.key.slice(16, 48)) ? 'both' : 'IPv6';
}

/** Why `target` cannot be reached from (or reach) a socket on `listen`, or undefined. */
function familyMismatch(target: Target, reach: Reach, listen: Target, what: string): string | undefined {
  if (reach === 'both' || reach === target.family) return undefined;
  return `an ${target.family} ${what} and --listen ${listen.text} (${reach} only) cannot meet; listen on [::]:${listen.port} for both`;
}

// ---------------------------------------------------------------- arguments

interface RelayArgs {
  listen: Target;
  reach: Reach;
  allow: Target[] | 'any';
  to: Target[];
  toFile: string | undefined;
  watch: boolean;
  dropUnreachable: boolean;
  zeroCopy: boolean;
  threads: number | undefined;
  backend: 'auto' | 'io_uring' | 'sendmmsg' | undefined;
  buffers: number | undefined;
  maxDatagram: number | undefined;
  sendBufferSize: number | undefined;
  ttl: number | undefined;
  tos: number | undefined;
  statsInterval: number;
}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`--${name} '${text}': must be a whole number from ${min} to ${max}`);
  return value;
}

function statsInterval(text: string | undefined): number {
  if (text === undefined) return 10;
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(text) ? Number(text) : NaN;
  if (!(value === 0 || (value >= 0.1 && value <= 86400))) {
    throw new UsageError(`--stats-interval '${text}': must be a number of seconds from 0.1 to 86400, or 0 for no status lines`);
  }
  return value;
}

/** Comma-separated values of a repeatable option, empty entries refused. */
function listOf(name: string, values: readonly string[] | undefined): string[] {
  const items = (values ?? []).flatMap((value) => value.split(','));
  if (items.some((item) => item.trim() === '')) throw new UsageError(`--${name}: an empty address in '${values!.join(',')}'`);
  return items.map((item) => item.trim());
}

/** parseArgs's complaint in the words of the rest (it names the argument). */
function parseArgsMessage(error: Error & { code?: string }): string {
  const message = error.message;
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option '${option}'`;
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument '${/'([^']*)'/.exec(message)?.[1]}': every value follows its option`;
  if (/argument missing|ambiguous/.test(message)) return `${option} needs a value (one starting with '-' is written ${option}=VALUE)`;
  if (/does not take an argument/.test(message)) return `${/--[\w-]+/.exec(message)?.[0]} takes no value`;
  return message.replace(/\n+/g, ' ');
}

function parseRelayArgs(argv: string[]): RelayArgs | 'help' {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: RELAY_OPTIONS, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error as Error & { code?: string }));
  }
  const { values, tokens } = parsed;
  if (values.help) return 'help';
  // parseArgs keeps the last of a repeated single-value option: say so instead.
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = RELAY_OPTIONS[token.name as keyof typeof RELAY_OPTIONS] as { multiple?: boolean };
    if (!('multiple' in option) && seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`);
    seen.add(token.name);
  }

  if (values.listen === undefined) throw new UsageError('--listen HOST:PORT is required (where to receive, e.g. 0.0.0.0:5000)');
  let listen: Target;
  try {
    listen = parseTarget(values.listen, { minPort: 0 });
  } catch (error) {
    throw new UsageError(`--listen '${values.listen}': ${(error as Error).message}`);
  }
  const reach = reachOf(listen);

  if (values.allow === undefined) {
    throw new UsageError("--allow is required: the source addresses to forward from, or 'any' (which makes the relay an amplifier for anyone who can reach it)");
  }
  const allowList = listOf('allow', values.allow);
  let allow: Target[] | 'any';
  if (allowList.includes('any')) {
    if (allowList.length > 1) throw new UsageError("--allow any forwards from every source: it cannot be combined with addresses");
    allow = 'any';
  } else {
    allow = allowList.map((text) => {
      let source: Target;
      try {
        source = parseTarget(text, { minPort: 0, addressOnly: true });
      } catch (error) {
        throw new UsageError(`--allow '${text}': ${(error as Error).message}`);
      }
      const mismatch = familyMismatch(source, reach, listen, 'source');
      if (mismatch) throw new UsageError(`--allow '${text}': ${mismatch}`);
      return source;
    });
  }

  const to = listOf('to', values.to).map((text) => {
    let member: Target;
    try {
      member = parseTarget(text, { minPort: 1 });
    } catch (error) {
      throw new UsageError(`--to '${text}': ${(error as Error).message}`);
    }
    const mismatch = familyMismatch(member, reach, listen, 'member');
    if (mismatch) throw new UsageError(`--to '${text}': ${mismatch}`);
    return member;
  });
  const toFile = values['to-file'];
  if (toFile === '') throw new UsageError('--to-file: the file name is empty');
  if (to.length === 0 && toFile === undefined) throw new UsageError('no members: give --to HOST:PORT (repeatable) or --to-file FILE');
  if (values['no-watch'] && toFile === undefined) throw new UsageError('--no-watch applies to --to-file, which is not given');

  const backend = values.backend;
  if (backend !== undefined && !['auto', 'io_uring', 'sendmmsg'].includes(backend)) {
    throw new UsageError(`--backend '${backend}': must be auto, io_uring or sendmmsg`);
  }
  return {
    listen,
    reach,
    allow,
    to,
    toFile,
    watch: !values['no-watch'],
    dropUnreachable: values['drop-unreachable'] ?? false,
    zeroCopy: values['zero-copy'] ?? false,
    threads: integer('threads', values.threads, 0, addon.limits.maxThreads),
    backend: backend as RelayArgs['backend'],
    buffers: integer('buffers', values.buffers, 1, addon.limits.maxRelayBuffers),
    maxDatagram: integer('max-datagram', values['max-datagram'], 1, 65507),
    sendBufferSize: integer('send-buffer-size', values['send-buffer-size'], 1, 0x3fffffff),
    ttl: integer('ttl', values.ttl, 1, 255),
    tos: integer('tos', values.tos, 0, 255),
    statsInterval: statsInterval(values['stats-interval']),
  };
}

// ---------------------------------------------------------------- members

/** A --to-file's members, or the first malformed line as `error` (FILE:LINE: ...). */
function parseMembersFile(text: string, file: string, reach: Reach = 'both', listen?: Target): { targets: Target[] } | { error: string } {
  const targets: Target[] = [];
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*/, '').trim();
    if (line === '') continue;
    const where = `${file}:${i + 1}`;
    if (/\s/.test(line)) return { error: `${where}: '${line}': one HOST:PORT per line` };
    let target: Target;
    try {
      target = parseTarget(line, { minPort: 1 });
    } catch (error) {
      return { error: `${where}: '${line}': ${(error as Error).message}` };
    }
    const mismatch = listen && familyMismatch(target, reach, listen, 'member');
    if (mismatch) return { error: `${where}: '${line}': ${mismatch}` };
    targets.push(target);
  }
  return { targets };
}

interface Entry {
  id: number;
  text: string;
}

/** The Group kept equal to --to plus the file's members by diffing. */
class Members {
  readonly group = new Group();
  readonly #entries = new Map<string, Entry>();

  /** Makes the group --to then `file`, duplicates once; members in both stay as they are. */
  reconcile(fixed: readonly Target[], file: readonly Target[]): { added: string[]; removed: string[]; duplicates: number } {
    const wanted = new Map<string, Target>();
    let duplicates = 0;
    for (const target of [...fixed, ...file]) {
      if (wanted.has(target.key)) duplicates++;
      else wanted.set(target.key, target);
    }
    const removed: string[] = [];
    for (const [key, entry] of this.#entries) {
      if (wanted.has(key)) continue;
      this.group.remove(entry.id);
      this.#entries.delete(key);
      removed.push(entry.text);
    }
    const added: string[] = [];
    for (const [key, target] of wanted) {
      if (this.#entries.has(key)) continue;
      this.#entries.set(key, { id: this.group.add({ address: target.address, port: target.port }), text: target.text });
      added.push(target.text);
    }
    return { added, removed, duplicates };
  }

  /** Removes the member at this endpoint; its text, or undefined when none is. */
  drop(address: string, port: number, family: Family): string | undefined {
    const packed = new Uint8Array(MEMBER_BYTES);
    packEndpoint({ address, port, family }, packed, 0);
    const key = Buffer.from(packed).toString('hex');
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.group.remove(entry.id);
    this.#entries.delete(key);
    return entry.text;
  }
}

/** "a, b, c and 7 more" */
function some(list: readonly string[], most = 5): string {
  if (list.length <= most) return list.join(', ');
  return `${list.slice(0, most).join(', ')} and ${list.length - most} more`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

// ---------------------------------------------------------------- figures

function rate(count: number, seconds: number): string {
  const perSecond = seconds > 0 ? count / seconds : 0;
  return perSecond >= 100 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

function failedSends(stats: RelayStats): number {
  return Object.values(stats.failures).reduce((sum, n) => sum + n, 0);
}

function drops(now: RelayStats, before?: RelayStats): string {
  const d = (get: (s: RelayStats) => number): number => get(now) - (before ? get(before) : 0);
  return `not-allowed ${d((s) => s.dropped.notAllowed)}, no-buffer ${d((s) => s.dropped.noBuffer)}, ` +
    `truncated ${d((s) => s.dropped.truncated)}, no-members ${d((s) => s.dropped.noMembers)}`;
}

function statusLine(now: RelayStats, before: RelayStats, seconds: number, unreachable: number): string {
  const out = now.sends - before.sends;
  const mbits = ((now.bytes - before.bytes) * 8) / 1e6 / (seconds || 1);
  return `status: in ${rate(now.received - before.received, seconds)}/s, out ${rate(out, seconds)}/s ${mbits.toFixed(2)} Mbit/s, ` +
    `members ${now.members}, dropped ${drops(now, before)}, failed sends ${failedSends(now) - failedSends(before)}, unreachable ${unreachable}`;
}

function byCode(failures: Record<string, number>): string {
  const entries = Object.entries(failures);
  return entries.length ? ` (${entries.map(([code, n]) => `${code} ${n}`).join(', ')})` : '';
}

function bytesText(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(2)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} bytes`;
}

// ---------------------------------------------------------------- running

function describeStartError(error: NodeJS.ErrnoException, args: RelayArgs): string {
  const where = `--listen ${args.listen.text}`;
  if (error.syscall === 'bind') {
    switch (error.code) {
      case 'EADDRINUSE': return `${where}: port ${args.listen.port} is in use (EADDRINUSE): another socket is bound to it`;
      case 'EADDRNOTAVAIL': return `${where}: ${args.listen.address} is not an address of this machine (EADDRNOTAVAIL)`;
      case 'EACCES': return `${where}: port ${args.listen.port} needs privileges (EACCES): use a port from 1024 up, or CAP_NET_BIND_SERVICE`;
      default: return `${where}: ${error.message}`;
    }
  }
  if (args.backend === 'io_uring' && /io_uring/.test(error.message)) {
    return `--backend io_uring: this process may not use io_uring (${error.message}); --backend auto falls back to sendmmsg`;
  }
  return `the relay could not start: ${error.message}`;
}

const DEBOUNCE_MS = 200;

async function runRelay(args: RelayArgs, io: CliIO): Promise<number> {
  const members = new Members();
  const fileDisplay = args.toFile;
  let fileTargets: Target[] = [];
  let lastText: string | undefined;
  let lastProblem: string | undefined;
  if (args.toFile !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(args.toFile, 'utf8');
    } catch (error) {
      throw new UsageError(`--to-file ${args.toFile}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const parsed = parseMembersFile(text, args.toFile, args.reach, args.listen);
    if ('error' in parsed) throw new UsageError(`--to-file ${parsed.error}`);
    fileTargets = parsed.targets;
    lastText = text;
  }
  const initial = members.reconcile(args.to, fileTargets);

  const options: RelayOptions = {
    listen: args.listen.text,
    allow: args.allow === 'any' ? 'any' : args.allow.map((source) => source.text),
    group: members.group,
  };
  if (args.zeroCopy) options.zeroCopy = true;
  if (args.threads !== undefined) options.threads = args.threads;
  if (args.backend !== undefined) options.backend = args.backend;
  if (args.buffers !== undefined) options.buffers = args.buffers;
  if (args.maxDatagram !== undefined) options.maxDatagram = args.maxDatagram;
  if (args.sendBufferSize !== undefined) options.sendBufferSize = args.sendBufferSize;
  if (args.ttl !== undefined) options.ttl = args.ttl;
  if (args.tos !== undefined) options.tos = args.tos;

  let relay: Relay;
  try {
    relay = new Relay(options);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    // The one setting the CLI does not check itself, from the environment.
    if (/^SENDGROUP_\w+ must/.test(String(e.message))) throw new UsageError(`$${e.message}`);
    throw new RuntimeError(describeStartError(e, args));
  }

  const bound = relay.address();
  const threads = args.threads ?? (process.env.SENDGROUP_THREADS ? Number(process.env.SENDGROUP_THREADS) : 0);
  const startStats = relay.stats();
  // Unreachable members: named by ICMP errors, counted per status interval.
  let unreachableNow = new Set<string>();
  let droppedUnreachable = 0;
  const onUnreachable = (event: UnreachableEvent): void => {
    unreachableNow.add(show(event.address, event.port, event.family));
    if (!args.dropUnreachable || event.code !== 'ECONNREFUSED') return;
    const text = members.drop(event.address, event.port, event.family);
    if (text === undefined) return;
    droppedUnreachable++;
    io.out(`dropped ${text}: port unreachable (ECONNREFUSED), ${plural(members.group.size, 'member')}`);
  };
  relay.on('unreachable', onUnreachable);

  // --to-file: re-read on change (debounced) and on SIGHUP.
  const reload = (trigger: 'change' | 'SIGHUP'): void => {
    if (args.toFile === undefined) {
      const { added } = members.reconcile(args.to, []);
      io.out(`SIGHUP: there is no --to-file to re-read; ${added.length ? `restored ${some(added)}, ` : ''}${plural(members.group.size, 'member')}`);
      return;
    }
    let text: string;
    try {
      text = fs.readFileSync(args.toFile, 'utf8');
    } catch (error) {
      const problem = `--to-file ${fileDisplay}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); keeping the ${plural(members.group.size, 'member')}`;
      if (trigger === 'SIGHUP' || problem !== lastProblem) io.err(problem);
      lastProblem = problem;
      return;
    }
    lastProblem = undefined;
    if (trigger === 'change' && text === lastText) return;
    lastText = text;
    const parsed = parseMembersFile(text, args.toFile, args.reach, args.listen);
    if ('error' in parsed) {
      io.err(`rejected ${parsed.error}; keeping the previous ${plural(members.group.size, 'member')}`);
      return;
    }
    fileTargets = parsed.targets;
    const { added, removed, duplicates } = members.reconcile(args.to, fileTargets);
    io.out(`reloaded ${fileDisplay} (${trigger}): +${added.length} -${removed.length}, ${plural(members.group.size, 'member')}` +
      (added.length ? `; added ${some(added)}` : '') + (removed.length ? `; removed ${some(removed)}` : '') +
      (duplicates ? `; ${plural(duplicates, 'duplicate')} ignored` : ''));
  };

  let debounce: NodeJS.Timeout | undefined;
  const watchers: fs.FSWatcher[] = [];
  if (args.toFile !== undefined && args.watch) {
    // The directories, not the file: an editor that saves by rename replaces
    // the file watched (a watch on it would see no more changes); a symlink's
    // target may live elsewhere. Any event there re-reads the file, and an
    // unchanged text does nothing.
    const dirs = new Set([path.dirname(path.resolve(args.toFile))]);
    try {
      dirs.add(path.dirname(fs.realpathSync(args.toFile)));
    } catch { /* read above; gone meanwhile: the next change says so */ }
    const schedule = (): void => {
      clearTimeout(debounce);
      debounce = setTimeout(() => reload('change'), DEBOUNCE_MS);
    };
    for (const dir of dirs) {
      try {
        const watcher = fs.watch(dir, { persistent: false }, schedule);
        watcher.on('error', (error: NodeJS.ErrnoException) => {
          io.err(`warning: watching ${dir} failed (${error.code ?? error.message}): re-read ${fileDisplay} with SIGHUP`);
          watcher.close();
        });
        watchers.push(watcher);
      } catch (error) {
        io.err(`warning: cannot watch ${dir} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}): re-read ${fileDisplay} with SIGHUP`);
      }
    }
  }

  // Status lines. The timer also keeps the process alive until a signal
  // stops it, whatever handles the relay holds.
  const started = process.hrtime.bigint();
  let before = startStats;
  let beforeAt = started;
  const tick = (): void => {
    const now = relay.stats();
    const at = process.hrtime.bigint();
    io.out(statusLine(now, before, Number(at - beforeAt) / 1e9, unreachableNow.size));
    before = now;
    beforeAt = at;
    unreachableNow = new Set();
  };
  const timer = args.statsInterval > 0 ? setInterval(tick, args.statsInterval * 1000) : setInterval(() => {}, 0x7fffffff);

  // Signals are handled before the first line: whoever reads it may send one at once.
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const onHup = (): void => reload('SIGHUP');
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) {
        io.err(`${signal} again: exiting without waiting for the sends in flight`);
        process.exit(1);
      }
      stopping = true;
      clearInterval(timer);
      clearTimeout(debounce);
      for (const watcher of watchers) watcher.close();
      process.removeListener('SIGHUP', onHup);
      relay.close().then(() => {
        const total = relay.stats();
        const seconds = Number(process.hrtime.bigint() - started) / 1e9;
        io.out(`stopped by ${signal} after ${seconds.toFixed(1)} s, backend ${total.backend}`);
        io.out(`total: received ${total.received}, forwarded ${total.forwarded}, sends ${total.sends} (${bytesText(total.bytes)}), ` +
          `failed sends ${failedSends(total)}${byCode(total.failures)}`);
        io.out(`total dropped: ${drops(total)}`);
        io.out(`total: members ${members.group.size} at the end, unreachable events ${total.unreachable}` +
          (args.dropUnreachable ? `, members dropped as unreachable ${droppedUnreachable}` : ''));
        process.removeListener('SIGINT', stop);
        process.removeListener('SIGTERM', stop);
        resolve(0);
      }, (error: Error) => {
        io.err(`closing the relay failed: ${error.message}`);
        resolve(1);
      });
    };
    process.on('SIGHUP', onHup);
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  io.out(`listening on ${show(bound.address, bound.port, bound.family)}, backend ${startStats.backend}, ` +
    `${threads ? `${plural(threads, 'thread')}` : 'inline'}, zero-copy ${args.zeroCopy ? 'always' : 'auto'}, ` +
    `allow ${args.allow === 'any' ? 'any' : args.allow.map((s) => s.text).join(',')}, ${plural(members.group.size, 'member')}` +
    (initial.duplicates ? ` (${plural(initial.duplicates, 'duplicate')} ignored)` : ''));
  if (args.allow === 'any' && !/^(127\.|::1$|::ffff:127\.)/.test(args.listen.address)) {
    io.err(`warning: --allow any: whoever can reach ${show(bound.address, bound.port, bound.family)} can make this relay send to every member`);
  }
  if (members.group.size === 0) io.err(`warning: no members yet: datagrams are dropped until ${args.toFile} names some`);
  return stopped;
}

function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Runs `sendgroup ARGV...`; resolves with the exit status. */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const [command, ...rest] = argv;
  let context = PROGRAM;
  try {
    if (command === undefined) throw new UsageError('a command is required: relay (see sendgroup --help)');
    if (command === '-h' || command === '--help' || command === 'help') {
      io.out(MAIN_HELP.trimEnd());
      return 0;
    }
    if (command === '--version') {
      io.out(version());
      return 0;
    }
    if (command !== 'relay') throw new UsageError(`unknown command '${command}': the command is relay (see sendgroup --help)`);
    context = `${PROGRAM} relay`;
    const args = parseRelayArgs(rest);
    if (args === 'help') {
      io.out(RELAY_HELP.trimEnd());
      return 0;
    }
    return await runRelay(args, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.err(`${context}: ${error.message}`);
      io.err(`Try '${context} --help'.`);
      return 2;
    }
    if (error instanceof RuntimeError) {
      io.err(`${context}: ${error.message}`);
      return 1;
    }
    io.err(`${context}: ${(error as Error)?.stack ?? String(error)}`);
    return 1;
  }
}
