/**
 * Concurrent calls for the same key share one run: the first call starts
 * `work`, later ones get its promise until it settles.
 */
export class SingleFlight<K, V> {
  private readonly running = new Map<K, Promise<V>>()

  /** `work` runs only for the first caller; `started` tells each caller whether it was the one. */
  async run (key: K, work: () => Promise<V>, started?: (first: boolean) => void): Promise<V> {
    const running = this.running.get(key)
    if (running != null) {
      started?.(false)
      return await running
    }
    started?.(true)
    const promise = work().finally(() => { this.running.delete(key) })
    this.running.set(key, promise)
    return await promise
  }

  get size (): number {
    return this.running.size
  }
}
