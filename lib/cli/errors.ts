// How the command fails: the error's class is the exit status main() gives.

/** Bad usage: exit status 2. */
export class UsageError extends Error {}

/** The relay could not run: exit status 1. */
export class RuntimeError extends Error {}

/** Why a system call failed: its code (ENOENT), else its message. */
export function reason(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
