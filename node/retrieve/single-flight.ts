/**
 * Concurrent calls for the same key share one run: the first call starts
 * `work`, later ones get its promise until it settles.
 */
export class SingleFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>()

  async run (key: K, work: () => Promise<V>): Promise<V> {
    const running = this.running.get(key)
    if (running != null) return await running
    const promise = work().finally(() => { this.running.delete(key) })
    this.running.set(key, promise)
    return await promise
  }
}
