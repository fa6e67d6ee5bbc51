// The `sendgroup` command (bin/sendgroup.js): `sendgroup relay` runs a Relay
// from the command line. Members come from --to and a --to-file that is
// re-read when it changes and on SIGHUP, the group kept by diffing; a status
// line per --stats-interval, a summary on SIGINT/SIGTERM. Exit status: 0
// when stopped by a signal, 1 for a runtime failure (a port in use), 2 for
// bad usage; every message names the argument (or file and line) at fault.
// This file dispatches and turns errors into exit statuses; the relay
// command itself is in cli/ (args, members, reload, watch, start, run, status).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseRelayArgs } from './cli/args';
import { RuntimeError, UsageError } from './cli/errors';
import { MAIN_HELP, PROGRAM, RELAY_HELP } from './cli/help';
import { CliIO, processIO } from './cli/io';
import { runRelay } from './cli/run';
import { quoted } from './errors';

export { RELAY_OPTIONS } from './cli/args';
export type { CliIO } from './cli/io';

/** Runs `sendgroup ARGV...`; resolves with the exit status. */
export async function main(argv: readonly string[], io: CliIO = processIO()): Promise<number> {
  const [command, ...rest] = argv;
  const context = command === 'relay' ? `${PROGRAM} relay` : PROGRAM;
  try {
    return await dispatch(command, rest, io);
  } catch (error) {
    return exitStatus(error, context, io);
  }
}

async function dispatch(command: string | undefined, rest: string[], io: CliIO): Promise<number> {
  if (command === undefined) throw new UsageError('a command is required: relay (see sendgroup --help)');
  if (command === '-h' || command === '--help' || command === 'help') {
    io.out(MAIN_HELP.trimEnd());
    return 0;
  }
  if (command === '--version') {
    io.out(version());
    return 0;
  }
  if (command !== 'relay') throw new UsageError(`unknown command ${quoted(command)}: the command is relay (see sendgroup --help)`);
  const args = parseRelayArgs(rest);
  if (args === 'help') {
    io.out(RELAY_HELP.trimEnd());
    return 0;
  }
  return runRelay(args, io);
}

/** The error said, prefixed with the command it came from: 2 for bad usage, 1 for the rest. */
function exitStatus(error: unknown, context: string, io: CliIO): number {
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

function version(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
