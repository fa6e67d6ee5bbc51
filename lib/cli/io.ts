// Where the command's lines go: stdout and stderr, or a test's lists.

export interface CliIO {
  out: (line: string) => void;
  err: (line: string) => void;
}

/** Lines to stdout and stderr; a reader that went away (EPIPE) stops the lines, not the relay. */
export function processIO(): CliIO {
  const writer = (stream: NodeJS.WriteStream): ((line: string) => void) => {
    let open = true;
    stream.on('error', () => { open = false; });
    return (line) => { if (open) stream.write(`${line}\n`); };
  };
  return { out: writer(process.stdout), err: writer(process.stderr) };
}
