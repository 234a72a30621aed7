// The prefetch queue (node/activitypub/prefetch.ts) with a fake download (the
// injected boundary) and a controlled clock: type filter, daily budget, rate,
// queue bound, duplicates, concurrency, failures and stop.
import { afterEach, describe, it, mock } from 'node:test'
import assert from 'node:assert/strict'
import { setImmediate as tick } from 'node:timers/promises'
import { pino } from 'pino'
import { FdnError } from '../../protocol/errors.ts'
import type { Attachment, RelayedPost } from '../../protocol/ap-attachments.ts'
import { FetchError } from '../../node/fetcher/errors.ts'
import { Prefetcher } from '../../node/activitypub/prefetch.ts'
import type { PrefetchDownload, PrefetchLimits, PrefetchOwner, PrefetcherOptions } from '../../node/activitypub/prefetch.ts'

const NOON = Date.UTC(2025, 0, 15, 12)
const DAY = 86_400_000

interface LogLine { level: number, msg: string, [key: string]: unknown }

/** A real pino logger whose lines the test reads. */
function capturingLog (): { log: PrefetcherOptions['log'], lines: LogLine[] } {
  const lines: LogLine[] = []
  const log = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } })
  return { log, lines }
}

interface Call { attachment: Attachment, owner: PrefetchOwner, limits: PrefetchLimits, release: (size?: number) => void, fail: (err: unknown) => void }

/** A download that waits until the test releases it (or answers at once with `size` when `immediate`). */
function fakeDownload (immediate?: (attachment: Attachment, limits: PrefetchLimits) => number): { download: PrefetchDownload, calls: Call[], active: () => number, maxActive: () => number } {
  const calls: Call[] = []
  let active = 0
  let maxActive = 0
  const download: PrefetchDownload = async (attachment, owner, limits) => {
    active++
    maxActive = Math.max(maxActive, active)
    try {
      if (immediate !== undefined) {
        calls.push({ attachment, owner, limits, release: () => {}, fail: () => {} })
        return { size: immediate(attachment, limits) }
      }
      return await new Promise<{ size: number }>((resolve, reject) => {
        calls.push({ attachment, owner, limits, release: (size = 100) => { resolve({ size }) }, fail: reject })
      })
    } finally {
      active--
    }
  }
  return { download, calls, active: () => active, maxActive: () => maxActive }
}

function post (urls: Array<string | Attachment>, status = 'https://a.example/notes/1'): RelayedPost {
  return {
    actor: 'https://a.example/users/a',
    status,
    attachments: urls.map(url => typeof url === 'string' ? { url } : url)
  }
}

const png = (i: number): Attachment => ({ url: `https://a.example/${i}.png`, mediaType: 'image/png' })

/** Lets downloads start and settle (microtasks and a few turns of the loop). */
async function settle (): Promise<void> {
  for (let i = 0; i < 5; i++) await tick()
}

/** Releases every download as it starts, until the queue is empty. */
async function drain (calls: Call[], p: Prefetcher, from = 0): Promise<void> {
  await settle()
  for (let released = from; released < calls.length; released++) {
    calls[released]?.release()
    await settle()
  }
  await p.idle()
}

function prefetcher (overrides: Partial<PrefetcherOptions> & Pick<PrefetcherOptions, 'download'>, clock = { now: NOON }): Prefetcher {
  return new Prefetcher({
    maxSize: 10_000,
    types: ['image', 'video', 'audio'],
    dailyBudget: 1e12,
    ratePerMinute: 0,
    log: pino({ level: 'silent' }),
    now: () => clock.now,
    ...overrides
  })
}

describe('Prefetcher', () => {
  afterEach(() => { mock.timers.reset() })

  it('queues the declared types allowed, and attachments that declare none', async () => {
    const fake = fakeDownload(() => 1)
    const p = prefetcher({ download: fake.download, types: ['image', 'video/mp4'] })
    const queued = p.offer(post([
      { url: 'https://a.example/1.jpg', mediaType: 'image/jpeg' },
      { url: 'https://a.example/2.png', mediaType: ' IMAGE/PNG; charset=binary' },
      { url: 'https://a.example/3.mp4', mediaType: 'video/mp4' },
      { url: 'https://a.example/4.webm', mediaType: 'video/webm' },
      { url: 'https://a.example/5.pdf', mediaType: 'application/pdf' },
      { url: 'https://a.example/6.mp3', mediaType: 'audio/mpeg' },
      { url: 'https://a.example/7' }
    ]))
    assert.equal(queued, 4)
    await p.idle()
    assert.deepEqual(fake.calls.map(call => call.attachment.url), ['https://a.example/1.jpg', 'https://a.example/2.png', 'https://a.example/3.mp4', 'https://a.example/7'])
    assert.deepEqual(p.counters(), { offered: 7, queued: 4, fetched: 4, bytes: 4, skipped: 3, failed: 0, dropped: 0 })
  })

  it('hands the download the attachment, its owner and the limits', async () => {
    const fake = fakeDownload(() => 1)
    const p = prefetcher({ download: fake.download, maxSize: 5000 })
    const attachment = { url: 'https://a.example/1.png', mediaType: 'image/png', digestMultibase: 'zQmdfTbBqBPQ7VNxZEYEj14VmRuZBkqFbiwReogJgS1zR1n' }
    p.offer(post([attachment], 'https://a.example/notes/9'))
    await p.idle()
    assert.deepEqual(fake.calls[0]?.attachment, attachment)
    assert.deepEqual(fake.calls[0]?.owner, { actor: 'https://a.example/users/a', status: 'https://a.example/notes/9' })
    assert.equal(fake.calls[0]?.limits.maxSize, 5000)
    assert.equal(fake.calls[0]?.limits.signal.aborted, false)
  })

  it('stops at the daily budget, limits the last downloads to what is left, and starts again the next UTC day', async () => {
    const clock = { now: NOON }
    const fake = fakeDownload(() => 1000)
    const p = prefetcher({ download: fake.download, dailyBudget: 3000, maxSize: 2500, concurrency: 1 }, clock)
    assert.equal(p.offer(post([png(1), png(2), png(3), png(4), png(5)])), 5)
    await p.idle()
    assert.deepEqual(fake.calls.map(call => call.limits.maxSize), [2500, 2000, 1000])
    assert.deepEqual(p.counters(), { offered: 5, queued: 5, fetched: 3, bytes: 3000, skipped: 2, failed: 0, dropped: 0 })

    assert.equal(p.offer(post([png(6)])), 0, 'spent: skipped at once')
    clock.now = Date.UTC(2025, 0, 15, 23, 59, 59, 999)
    assert.equal(p.offer(post([png(7)])), 0, 'still the same UTC day')
    clock.now = Date.UTC(2025, 0, 16)
    assert.equal(p.offer(post([png(8), png(9)])), 2)
    await p.idle()
    assert.deepEqual(fake.calls.slice(3).map(call => [call.attachment.url, call.limits.maxSize]), [['https://a.example/8.png', 2500], ['https://a.example/9.png', 2000]])
    assert.deepEqual(p.counters(), { offered: 9, queued: 7, fetched: 5, bytes: 5000, skipped: 4, failed: 0, dropped: 0 })
  })

  it('fetches nothing with a budget of 0', async () => {
    const fake = fakeDownload(() => 1)
    const p = prefetcher({ download: fake.download, dailyBudget: 0 })
    assert.equal(p.offer(post([png(1), { url: 'https://a.example/2' }])), 0)
    await p.idle()
    assert.equal(fake.calls.length, 0)
    assert.deepEqual(p.counters(), { offered: 2, queued: 0, fetched: 0, bytes: 0, skipped: 2, failed: 0, dropped: 0 })
  })

  it('counts a download that ends after midnight in the new day', async () => {
    const clock = { now: NOON }
    const fake = fakeDownload()
    const p = prefetcher({ download: fake.download, dailyBudget: 1000, concurrency: 1 }, clock)
    p.offer(post([png(1)]))
    await settle()
    clock.now = NOON + DAY
    fake.calls[0]?.release(1000)
    await p.idle()
    assert.equal(p.offer(post([png(2)])), 0, "the new day's budget is spent")
  })

  it('spreads starts by the rate, keeping the rest queued', async () => {
    mock.timers.enable({ apis: ['setTimeout'] })
    const clock = { now: NOON }
    const advance = async (ms: number): Promise<void> => {
      clock.now += ms
      mock.timers.tick(ms)
      await settle()
    }
    const fake = fakeDownload(() => 1)
    const p = prefetcher({ download: fake.download, ratePerMinute: 2, concurrency: 10 }, clock)
    assert.equal(p.offer(post([png(1), png(2), png(3), png(4), png(5), png(6), png(7)])), 7)
    await settle()
    assert.equal(fake.calls.length, 2, 'a full bucket: a burst of 2')
    await advance(29_999)
    assert.equal(fake.calls.length, 2)
    await advance(1)
    assert.equal(fake.calls.length, 3, 'one start every 30 s')
    await advance(30_000)
    assert.equal(fake.calls.length, 4)
    await advance(120_000)
    assert.equal(fake.calls.length, 6, 'the bucket refilled, to 2 at most')
    await advance(29_999)
    assert.equal(fake.calls.length, 6)
    await advance(1)
    assert.equal(fake.calls.length, 7)
    await p.idle()
    assert.deepEqual(p.counters(), { offered: 7, queued: 7, fetched: 7, bytes: 7, skipped: 0, failed: 0, dropped: 0 })
  })

  it('drops beyond queueMax and says so at most once a minute', async () => {
    const clock = { now: NOON }
    const { log, lines } = capturingLog()
    const fake = fakeDownload()
    const p = prefetcher({ download: fake.download, queueMax: 3, concurrency: 1, log }, clock)
    assert.equal(p.offer(post([png(1), png(2), png(3), png(4), png(5), png(6)])), 3)
    await settle()
    assert.equal(fake.calls.length, 1, 'one started: two wait')
    assert.equal(p.offer(post([png(7), png(8)])), 1)
    clock.now += 59_999
    assert.equal(p.offer(post([png(9)])), 0)
    const drops = (): LogLine[] => lines.filter(line => line.msg === 'prefetch queue full: attachments dropped')
    assert.deepEqual(drops().map(line => line.dropped), [1], 'the first drop is told at once')
    clock.now += 1
    assert.equal(p.offer(post([png(10)])), 0)
    assert.deepEqual(drops().map(line => line.dropped), [1, 5], 'then those of the minute since')
    assert.equal(p.counters().dropped, 6)
    await drain(fake.calls, p)
    assert.deepEqual(fake.calls.map(call => call.attachment.url), [1, 2, 3, 7].map(i => `https://a.example/${i}.png`))
  })

  it('fetches a url offered again while queued or under way once', async () => {
    const fake = fakeDownload()
    const p = prefetcher({ download: fake.download, concurrency: 1 })
    assert.equal(p.offer(post([png(1), png(2)])), 2)
    await settle()
    assert.equal(p.offer(post([png(1), png(2), png(3)], 'https://a.example/notes/2')), 1, '1 under way, 2 queued')
    await drain(fake.calls, p)
    assert.deepEqual(fake.calls.map(call => call.attachment.url), [1, 2, 3].map(i => `https://a.example/${i}.png`))
    assert.deepEqual(p.counters(), { offered: 5, queued: 3, fetched: 3, bytes: 300, skipped: 2, failed: 0, dropped: 0 })
    assert.equal(p.offer(post([png(1)])), 1, 'done: a later offer fetches again (the download finds it cached)')
    await drain(fake.calls, p, 3)
  })

  it('runs at most `concurrency` downloads at once', async () => {
    const fake = fakeDownload()
    const p = prefetcher({ download: fake.download, concurrency: 2 })
    p.offer(post(Array.from({ length: 7 }, (_, i) => png(i))))
    for (let released = 0; released < 7; released++) {
      await settle()
      assert.ok(fake.active() <= 2)
      fake.calls[released]?.release()
    }
    await p.idle()
    assert.equal(fake.maxActive(), 2)
    assert.equal(p.counters().fetched, 7)
  })

  it('counts and logs failed downloads and goes on', async () => {
    const { log, lines } = capturingLog()
    const errors: unknown[] = [
      new FetchError('http_status', 'https://a.example/0.png', 'status 404', { status: 404 }),
      new FdnError('digest_mismatch', 'the bytes do not match digestMultibase'),
      new TypeError('a bug'),
      'a string'
    ]
    let i = 0
    const download: PrefetchDownload = (attachment) => {
      const err = errors[i++]
      if (err instanceof TypeError) throw err // synchronously
      return err === undefined ? Promise.resolve({ size: 7 }) : Promise.reject(err instanceof Error ? err : new Error(String(err)))
    }
    const p = prefetcher({ download, log, concurrency: 1 })
    p.offer(post([png(0), png(1), png(2), png(3), png(4)]))
    await p.idle()
    assert.deepEqual(p.counters(), { offered: 5, queued: 5, fetched: 1, bytes: 7, skipped: 0, failed: 4, dropped: 0 })
    const failures = lines.filter(line => line.msg === 'prefetch failed')
    assert.deepEqual(failures.map(line => [line.level, line.code]), [[20, 'http_status'], [20, 'digest_mismatch'], [30, undefined], [30, undefined]])
  })

  it('stop() forgets the queue, aborts downloads under way and refuses new offers', async () => {
    const fake = fakeDownload()
    const p = prefetcher({ download: fake.download, concurrency: 1 })
    p.offer(post([png(1), png(2), png(3)]))
    await settle()
    const signal = fake.calls[0]?.limits.signal
    const stopped = p.stop()
    assert.equal(signal?.aborted, true)
    fake.calls[0]?.fail(signal?.reason)
    await stopped
    await p.idle()
    assert.equal(fake.calls.length, 1)
    assert.equal(p.offer(post([png(4)])), 0)
    assert.deepEqual(p.counters(), { offered: 3, queued: 3, fetched: 0, bytes: 0, skipped: 0, failed: 1, dropped: 0 })
  })
})
