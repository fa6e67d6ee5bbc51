// The Relay the arguments describe, opened; what keeps it from starting is
// said in the command's words.
import type { Group } from '../group';
import { Relay, RelayOptions } from '../relay';
import type { RelayArgs } from './args';
import { RuntimeError, UsageError } from './errors';

/** The sources --allow names, as printed, or 'any'. */
export function allowed(args: RelayArgs): string[] | 'any' {
  return args.allow === 'any' ? 'any' : args.allow.map((source) => source.text);
}

/** A Relay receiving on --listen and sending to `group`; a RuntimeError (or UsageError) when it cannot start. */
export function openRelay(args: RelayArgs, group: Group): Relay {
  const options = relayOptions(args, group);
  try {
    return new Relay(options);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    // The one setting the CLI does not check itself, from the environment.
    if (/^SENDGROUP_\w+ must/.test(String(e.message))) throw new UsageError(`$${e.message}`);
    throw new RuntimeError(describeStartError(e, args));
  }
}

function relayOptions(args: RelayArgs, group: Group): RelayOptions {
  const options: RelayOptions = { listen: args.listen.text, allow: allowed(args), group };
  if (args.zeroCopy) options.zeroCopy = true;
  if (args.threads !== undefined) options.threads = args.threads;
  if (args.backend !== undefined) options.backend = args.backend;
  if (args.buffers !== undefined) options.buffers = args.buffers;
  if (args.maxDatagram !== undefined) options.maxDatagram = args.maxDatagram;
  if (args.sendBufferSize !== undefined) options.sendBufferSize = args.sendBufferSize;
  if (args.ttl !== undefined) options.ttl = args.ttl;
  if (args.tos !== undefined) options.tos = args.tos;
  return options;
}

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
