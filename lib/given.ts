// Which keys of a user's object count as given: the object's own, or a
// class's of its own, never Object.prototype's (where any dependency's code
// may have put them).

// Prototype chains are short; only a Proxy's getPrototypeOf can make one
// endless (a cycle), and what is that deep counts as not given.
const MAX_CHAIN = 64;

function given(value: object, key: string): boolean {
  let o: object | null = value;
  for (let depth = 0; o !== null && o !== Object.prototype && depth < MAX_CHAIN; depth++) {
    if (Object.hasOwn(o, key)) return true;
    o = Object.getPrototypeOf(o) as object | null;
  }
  return false;
}

/** value[key], read once; undefined when only Object.prototype has the key. */
export function readGiven(value: object, key: string): unknown {
  const read = (value as Record<string, unknown>)[key];
  // What Object.prototype lacks cannot have come from it: no walk.
  if (read === undefined || !Object.hasOwn(Object.prototype, key)) return read;
  return given(value, key) ? read : undefined;
}

/**
 * A key a class of the user's own has that is not one of `keys`, as a typo
 * in a getter's name would be; methods and 'constructor' are not options
 * and are passed over. The root of the chain (Object.prototype, this
 * realm's or another's, as a vm context's object has) is not the user's.
 * A plain object has no such class: nothing is walked for it.
 */
export function unknownInheritedKey(value: object, keys: readonly string[]): string | undefined {
  let o = Object.getPrototypeOf(value) as object | null;
  for (let depth = 1; o !== null && o !== Object.prototype && depth < MAX_CHAIN; depth++) {
    const next = Object.getPrototypeOf(o) as object | null;
    if (next === null) return undefined;
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor' || keys.includes(key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(o, key);
      if (descriptor && typeof descriptor.value !== 'function') return key;
    }
    o = next;
  }
  return undefined;
}
