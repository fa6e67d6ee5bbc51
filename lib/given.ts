// Which keys of a user's object count as given: the object's own, or a
// class's of its own, never Object.prototype's (where any dependency's code
// may have put them).

function given(value: object, key: string): boolean {
  for (let o: object | null = value; o !== null && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    if (Object.hasOwn(o, key)) return true;
  }
  return false;
}

/** value[key], read once; undefined when only Object.prototype has the key. */
export function readGiven(value: object, key: string): unknown {
  const read = (value as Record<string, unknown>)[key];
  return read === undefined || given(value, key) ? read : undefined;
}
