/**
 * Blocks that an ingest has written or is writing but not yet committed to the
 * index. Such a block has no reference count yet, and must not be collected.
 * Claims are counted, since two ingests of the same bytes share blocks.
 */
export class Claims {
  private readonly counts = new Map<string, number>()

  claim (key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1)
  }

  release (key: string): void {
    const count = (this.counts.get(key) ?? 0) - 1
    if (count > 0) this.counts.set(key, count)
    else this.counts.delete(key)
  }

  isClaimed (key: string): boolean {
    return this.counts.has(key)
  }
}
