/**
 * Makes room for one more entry in a bounded per-process cache: first drops the entries that
 * `expired` says are dead, then, if still full, the oldest insertions (a Map keeps insertion order).
 */
export function makeRoom<V>(map: Map<string, V>, maxEntries: number, expired: (entry: V) => boolean): void {
  if (map.size < maxEntries) return;
  for (const [key, entry] of map) {
    if (expired(entry)) map.delete(key);
  }
  for (const key of map.keys()) {
    if (map.size < maxEntries) break;
    map.delete(key);
  }
}
