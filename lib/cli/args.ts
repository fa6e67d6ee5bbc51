// The arguments of `sendgroup relay`, parsed and checked: each complaint is
// a UsageError that names the argument and says what is wrong.
import { parseArgs } from 'node:util';
import { addon } from '../native';
import { UsageError } from './errors';
import { Target, TargetForm, parseReachable, parseTarget } from './target';
import { quoted } from '../errors';

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

export interface RelayArgs {
  listen: Target;
  allow: Target[] | 'any';
  to: Target[];
  toFile: string | undefined;
  watch: boolean;
  dropUnreachable: boolean;
  zeroCopy: boolean;
  backend: 'auto' | 'io_uring' | 'sendmmsg' | undefined;
  threads: number | undefined;
  buffers: number | undefined;
  maxDatagram: number | undefined;
  sendBufferSize: number | undefined;
  ttl: number | undefined;
  tos: number | undefined;
  statsInterval: number;
}

/** `sendgroup relay ARGV...` as RelayArgs, or 'help' for --help. */
export function parseRelayArgs(argv: string[]): RelayArgs | 'help' {
  const { values, tokens } = readOptions(argv);
  if (values.help) return 'help';
  refuseRepeats(tokens);
  const listen = parseListen(values.listen);
  const allow = parseAllow(values.allow, listen);
  const to = listOf('to', values.to).map((text) => argument(`--to ${quoted(text)}`, () => parseReachable(text, { minPort: 1 }, listen, 'member')));
  const toFile = values['to-file'];
  checkMemberSources(to, toFile, values['no-watch'] ?? false);
  return {
    listen,
    allow,
    to,
    toFile,
    watch: !values['no-watch'],
    dropUnreachable: values['drop-unreachable'] ?? false,
    zeroCopy: values['zero-copy'] ?? false,
    backend: parseBackend(values.backend),
    threads: integer('threads', values.threads, 0, addon.limits.maxThreads),
    buffers: integer('buffers', values.buffers, 1, addon.limits.maxRelayBuffers),
    maxDatagram: integer('max-datagram', values['max-datagram'], 1, 65507),
    sendBufferSize: integer('send-buffer-size', values['send-buffer-size'], 1, 0x3fffffff),
    ttl: integer('ttl', values.ttl, 1, 255),
    tos: integer('tos', values.tos, 0, 255),
    statsInterval: statsInterval(values['stats-interval']),
  };
}

/** parseArgs's reading, its complaint a UsageError. */
function readOptions(argv: string[]) {
  try {
    return parseArgs({ args: argv, options: RELAY_OPTIONS, strict: true, allowPositionals: false, tokens: true });
  } catch (error) {
    throw new UsageError(parseArgsMessage(error as Error & { code?: string }));
  }
}

/** parseArgs's complaint in the words of the rest (it names the argument). */
function parseArgsMessage(error: Error & { code?: string }): string {
  const message = error.message;
  const option = /'(-[^' ]+)/.exec(message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return `unknown option ${quoted(option ?? '')}`;
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') return `unexpected argument ${quoted(/'([^']*)'/.exec(message)?.[1] ?? '')}: every value follows its option`;
  if (/argument missing|ambiguous/.test(message)) return `${option} needs a value (one starting with '-' is written ${option}=VALUE)`;
  if (/does not take an argument/.test(message)) return `${/--[\w-]+/.exec(message)?.[0]} takes no value`;
  return message.replace(/\n+/g, ' ');
}

/** parseArgs keeps the last of a repeated single-value option: say so instead. */
function refuseRepeats(tokens: ReturnType<typeof readOptions>['tokens']): void {
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind !== 'option') continue;
    const option = RELAY_OPTIONS[token.name as keyof typeof RELAY_OPTIONS] as { multiple?: boolean };
    if (!('multiple' in option) && seen.has(token.name)) throw new UsageError(`--${token.name} is given more than once`);
    seen.add(token.name);
  }
}

/** What `parse` returns; its error as a UsageError that starts with `where`. */
function argument<T>(where: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    throw new UsageError(`${where}: ${(error as Error).message}`);
  }
}

function parseListen(text: string | undefined): Target {
  if (text === undefined) throw new UsageError('--listen HOST:PORT is required (where to receive, e.g. 0.0.0.0:5000)');
  return argument(`--listen ${quoted(text)}`, () => parseTarget(text, { minPort: 0 }));
}

function parseAllow(values: string[] | undefined, listen: Target): Target[] | 'any' {
  if (values === undefined) {
    throw new UsageError("--allow is required: the source addresses to forward from, or 'any' (which makes the relay an amplifier for anyone who can reach it)");
  }
  const list = listOf('allow', values);
  if (!list.includes('any')) {
    const form: TargetForm = { minPort: 0, addressOnly: true };
    return list.map((text) => argument(`--allow ${quoted(text)}`, () => parseReachable(text, form, listen, 'source')));
  }
  if (list.length > 1) throw new UsageError('--allow any forwards from every source: it cannot be combined with addresses');
  return 'any';
}

/** Comma-separated values of a repeatable option, empty entries refused. */
function listOf(name: string, values: readonly string[] | undefined): string[] {
  const items = (values ?? []).flatMap((value) => value.split(','));
  if (items.some((item) => item.trim() === '')) throw new UsageError(`--${name}: an empty address in ${quoted(values!.join(','))}`);
  return items.map((item) => item.trim());
}

function checkMemberSources(to: readonly Target[], toFile: string | undefined, noWatch: boolean): void {
  if (toFile === '') throw new UsageError('--to-file: the file name is empty');
  if (to.length === 0 && toFile === undefined) throw new UsageError('no members: give --to HOST:PORT (repeatable) or --to-file FILE');
  if (noWatch && toFile === undefined) throw new UsageError('--no-watch applies to --to-file, which is not given');
}

function parseBackend(backend: string | undefined): RelayArgs['backend'] {
  if (backend !== undefined && !['auto', 'io_uring', 'sendmmsg'].includes(backend)) {
    throw new UsageError(`--backend ${quoted(backend)}: must be auto, io_uring or sendmmsg`);
  }
  return backend as RelayArgs['backend'];
}

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new UsageError(`--${name} ${quoted(text)}: must be a whole number from ${min} to ${max}`);
  return value;
}

function statsInterval(text: string | undefined): number {
  if (text === undefined) return 10;
  const value = /^\d+(\.\d+)?$|^\.\d+$/.test(text) ? Number(text) : NaN;
  if (!(value === 0 || (value >= 0.1 && value <= 86400))) {
    throw new UsageError(`--stats-interval ${quoted(text)}: must be a number of seconds from 0.1 to 86400, or 0 for no status lines`);
  }
  return value;
}
