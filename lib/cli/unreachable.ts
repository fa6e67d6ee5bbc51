// Members an ICMP error names: counted per status interval, and with
// --drop-unreachable removed on a port unreachable (a re-read of --to-file,
// or SIGHUP, brings them back).
import type { UnreachableEvent } from '../sender';
import type { CliIO } from './io';
import type { Members } from './members';
import { show } from './target';
import { plural } from './words';

export class UnreachableMembers {
  /** Members named since the interval began, as printed. */
  #named = new Set<string>();
  /** Members removed as unreachable. */
  #dropped = 0;

  /** counted: whether status lines ask for endInterval() (without them the names would pile up for good). */
  constructor(private readonly members: Members, private readonly dropUnreachable: boolean, private readonly counted: boolean,
    private readonly io: CliIO) {}

  /** The relay's 'unreachable' listener. */
  onEvent(event: UnreachableEvent): void {
    if (this.counted) this.#named.add(show(event.address, event.port, event.family));
    if (!this.dropUnreachable || event.code !== 'ECONNREFUSED') return;
    const text = this.members.drop(event);
    if (text === undefined) return;
    this.#dropped++;
    this.io.out(`dropped ${text}: port unreachable (ECONNREFUSED), ${plural(this.members.group.size, 'member')}`);
  }

  /** How many members were named in the interval now ending; the next one starts empty. */
  endInterval(): number {
    const count = this.#named.size;
    this.#named = new Set();
    return count;
  }

  /** Members removed as unreachable; undefined without --drop-unreachable. */
  get dropped(): number | undefined {
    return this.dropUnreachable ? this.#dropped : undefined;
  }
}
